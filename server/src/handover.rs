//! Swapping the running `specgate serve` for a new binary without refusing a connection or
//! dropping a call (`specgate reload`, or SIGHUP).
//!
//! The old process starts the binary it was started from, with the same arguments, and hands
//! it the listening socket itself over a Unix socket (`SCM_RIGHTS`). Both then accept from the
//! same queue, so a connection that arrives during the swap waits in the kernel's backlog
//! instead of being refused. Once the new process says it is serving, the old one stops
//! accepting, lets its in-flight calls finish (their responses carry `Connection: close`, so
//! clients reconnect to the new process) and exits. If the new binary fails to start, the old
//! process keeps serving and logs why.
//!
//! Written on rustix, which the tree already has: the crates that do this (shellflip,
//! ecdysis) bring nix, a second socket2 and their own runtimes, and the exchange is two
//! messages.

use std::ffi::OsString;
use std::io::{IoSlice, IoSliceMut, Read, Write};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use rustix::net::{
    RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags,
};

/// Names the Unix socket a new process takes the listening socket from.
pub const HANDOVER_ENV: &str = "SPECGATE_HANDOVER_SOCKET";

/// How long the old process keeps answering on connections it already has, once the new one
/// accepts the new ones: long enough for a client in a call loop to be told to reconnect,
/// where closing at once would meet requests already on their way.
pub const HANDOVER_LINGER: Duration = Duration::from_secs(3);

/// The line a new process sends once it accepts connections.
const READY: &[u8] = b"ready\n";

/// Why a swap did not happen.
#[derive(Debug, thiserror::Error)]
pub enum HandoverError {
    /// The handover socket or the new process could not be set up.
    #[error("cannot start the new process: {0}")]
    Start(std::io::Error),
    /// The new process exited before it served.
    #[error("the new process exited before it served ({0})")]
    Exited(std::process::ExitStatus),
    /// The new process did not say it was serving in time.
    #[error("the new process did not start serving within {} s", .0.as_secs())]
    Timeout(Duration),
    /// The socket could not be passed or received.
    #[error("the listening socket could not be handed over: {0}")]
    Transfer(std::io::Error),
}

/// The executable and arguments of this process, read at startup: after a rebuild the path
/// names the new binary, while `/proc/self/exe` would name the deleted old one.
#[derive(Debug, Clone)]
pub struct Relaunch {
    executable: PathBuf,
    arguments: Vec<OsString>,
}

impl Relaunch {
    /// This process as it was started.
    pub fn of_this_process() -> std::io::Result<Self> {
        Ok(Self {
            executable: std::env::current_exe()?,
            arguments: std::env::args_os().skip(1).collect(),
        })
    }

    /// Starts the binary again and hands it `listener`; returns the new process's id once it
    /// serves. Blocking: run it off the serving threads.
    pub fn hand_over(&self, listener: &OwnedFd, within: Duration) -> Result<u32, HandoverError> {
        let socket_path = std::env::temp_dir().join(format!(
            "specgate-handover-{}-{}.sock",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |since| since.as_nanos())
        ));
        let handover = UnixListener::bind(&socket_path).map_err(HandoverError::Start)?;
        let result = self.start_and_transfer(&handover, &socket_path, listener, within);
        let _ = std::fs::remove_file(&socket_path);
        result
    }

    fn start_and_transfer(
        &self,
        handover: &UnixListener,
        socket_path: &Path,
        listener: &OwnedFd,
        within: Duration,
    ) -> Result<u32, HandoverError> {
        let mut child = Command::new(&self.executable)
            .args(&self.arguments)
            .env(HANDOVER_ENV, socket_path)
            .stdin(Stdio::null())
            .spawn()
            .map_err(HandoverError::Start)?;
        let result = transfer(handover, &mut child, listener, within);
        if result.is_err() {
            // A process that could not take over must not linger half-started.
            let _ = child.kill();
            let _ = child.wait();
        }
        result.map(|()| child.id())
    }
}

/// Accepts the new process's connection, sends the socket, and waits for its ready line,
/// watching for its exit throughout.
fn transfer(
    handover: &UnixListener,
    child: &mut Child,
    listener: &OwnedFd,
    within: Duration,
) -> Result<(), HandoverError> {
    let deadline = (Instant::now() + within, within);
    handover
        .set_nonblocking(true)
        .map_err(HandoverError::Start)?;
    let mut stream = loop {
        match handover.accept() {
            Ok((stream, _)) => break stream,
            Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {
                wait_a_little(child, deadline)?;
            }
            Err(error) => return Err(HandoverError::Transfer(error)),
        }
    };
    stream
        .set_nonblocking(false)
        .map_err(HandoverError::Transfer)?;
    let fds = [listener.as_fd()];
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    control.push(SendAncillaryMessage::ScmRights(&fds));
    rustix::net::sendmsg(
        &stream,
        &[IoSlice::new(b"L")],
        &mut control,
        SendFlags::empty(),
    )
    .map_err(|e| HandoverError::Transfer(e.into()))?;
    // The ready line, read in short waits so the child's exit is noticed.
    stream
        .set_read_timeout(Some(Duration::from_millis(100)))
        .map_err(HandoverError::Transfer)?;
    let mut line = Vec::new();
    let mut byte = [0_u8; 1];
    while line != READY {
        match stream.read(&mut byte) {
            Ok(0) => return Err(exited(child)),
            Ok(_) => line.push(byte[0]),
            Err(error)
                if matches!(
                    error.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                wait_a_little(child, deadline)?;
            }
            Err(error) => return Err(HandoverError::Transfer(error)),
        }
        if !READY.starts_with(&line) {
            return Err(HandoverError::Transfer(std::io::Error::other(
                "the new process answered something other than its ready line",
            )));
        }
    }
    Ok(())
}

/// Sleeps briefly, unless the child has exited or `(deadline, within)` has passed.
fn wait_a_little(child: &mut Child, deadline: (Instant, Duration)) -> Result<(), HandoverError> {
    if let Ok(Some(status)) = child.try_wait() {
        return Err(HandoverError::Exited(status));
    }
    if Instant::now() >= deadline.0 {
        return Err(HandoverError::Timeout(deadline.1));
    }
    std::thread::sleep(Duration::from_millis(20));
    Ok(())
}

fn exited(child: &mut Child) -> HandoverError {
    match child.wait() {
        Ok(status) => HandoverError::Exited(status),
        Err(error) => HandoverError::Transfer(error),
    }
}

/// The new process's side: tells the old one it serves.
pub struct Ready(UnixStream);

impl Ready {
    /// Says this process accepts connections; the old one then stops.
    pub fn announce(mut self) -> std::io::Result<()> {
        self.0.write_all(READY)
    }
}

/// In a process started by [`Relaunch::hand_over`]: the listening socket it is handed.
/// `None` when this process was started some other way.
pub fn take_over() -> Option<Result<(std::net::TcpListener, Ready), HandoverError>> {
    let path = std::env::var_os(HANDOVER_ENV)?;
    Some(receive(Path::new(&path)))
}

fn receive(path: &Path) -> Result<(std::net::TcpListener, Ready), HandoverError> {
    let stream = UnixStream::connect(path).map_err(HandoverError::Transfer)?;
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let mut byte = [0_u8; 1];
    rustix::net::recvmsg(
        &stream,
        &mut [IoSliceMut::new(&mut byte)],
        &mut control,
        RecvFlags::CMSG_CLOEXEC,
    )
    .map_err(|e| HandoverError::Transfer(e.into()))?;
    let listener = control
        .drain()
        .find_map(|message| match message {
            RecvAncillaryMessage::ScmRights(mut fds) => fds.next(),
            _ => None,
        })
        .ok_or_else(|| {
            HandoverError::Transfer(std::io::Error::other("the old process sent no socket"))
        })?;
    let listener = std::net::TcpListener::from(listener);
    listener
        .set_nonblocking(true)
        .map_err(HandoverError::Transfer)?;
    Ok((listener, Ready(stream)))
}

/// What `serve` needs to swap itself for a new binary, which SIGHUP starts.
pub struct Swap {
    relaunch: Relaunch,
    hangups: tokio::signal::unix::Signal,
    pid_file: Option<PathBuf>,
    within: Duration,
    ready: Option<Ready>,
}

impl Swap {
    /// Installs the SIGHUP handler. `ready` is the old process's line when this process took
    /// over from one; `within` bounds how long a new process may take to start serving.
    pub fn new(
        pid_file: Option<PathBuf>,
        within: Duration,
        ready: Option<Ready>,
    ) -> std::io::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Self {
            relaunch: Relaunch::of_this_process()?,
            hangups: signal(SignalKind::hangup())?,
            pid_file,
            within,
            ready,
        })
    }

    /// Announces this process (to the old one, and in the pid file), then swaps on each SIGHUP
    /// until one swap succeeds, which cancels `handed_over` and `shutdown`, or until
    /// `shutdown`. Call once this process accepts connections on `socket`.
    pub async fn run(
        mut self,
        socket: OwnedFd,
        handed_over: CancellationToken,
        shutdown: CancellationToken,
    ) {
        if let Some(ready) = self.ready.take()
            && let Err(error) = ready.announce()
        {
            tracing::warn!(%error, "cannot tell the old process this one serves");
        }
        if let Some(path) = &self.pid_file
            && let Err(error) = write_pid_file(path)
        {
            tracing::error!(%error, path = %path.display(), "cannot write the pid file");
        }
        let socket = std::sync::Arc::new(socket);
        loop {
            tokio::select! {
                _ = self.hangups.recv() => {}
                () = shutdown.cancelled() => {
                    self.release_pid_file();
                    return;
                }
            }
            tracing::info!(binary = %self.relaunch.executable.display(), "reloading: starting the binary and handing it the listening socket");
            let relaunch = self.relaunch.clone();
            let within = self.within;
            let listener = socket.clone();
            match tokio::task::spawn_blocking(move || relaunch.hand_over(&listener, within)).await {
                Ok(Ok(pid)) => {
                    tracing::info!(
                        new_pid = pid,
                        "reloaded: the new process serves; this one finishes its in-flight calls and exits"
                    );
                    handed_over.cancel();
                    // Kept-alive clients send their next request here during the linger and
                    // are answered with `Connection: close`; then the rest winds down.
                    tokio::time::sleep(HANDOVER_LINGER).await;
                    shutdown.cancel();
                    return;
                }
                Ok(Err(error)) => {
                    tracing::error!(%error, "reload failed; this process keeps serving");
                }
                Err(error) => {
                    tracing::error!(%error, "reload failed; this process keeps serving");
                }
            }
        }
    }

    /// Removes the pid file if it still names this process.
    fn release_pid_file(&self) {
        if let Some(path) = &self.pid_file
            && read_pid_file(path).ok() == Some(std::process::id())
        {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Writes this process's id, whole or not at all, so a reader never sees half of it.
fn write_pid_file(path: &Path) -> std::io::Result<()> {
    let partial = path.with_extension(format!("{}.partial", std::process::id()));
    std::fs::write(&partial, format!("{}\n", std::process::id()))?;
    std::fs::rename(&partial, path)
}

/// The process id a pid file names.
pub fn read_pid_file(path: &Path) -> std::io::Result<u32> {
    let text = std::fs::read_to_string(path)?;
    text.trim().parse().map_err(|_| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{} does not hold a process id", path.display()),
        )
    })
}

/// Why `specgate reload` did not see a new process take over.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The pid file is missing or holds no process id.
    #[error("cannot read the pid file {path}: {source}")]
    PidFile {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The process could not be signalled (gone, or another user's).
    #[error("cannot signal process {pid}: {source}")]
    Signal {
        /// The process.
        pid: u32,
        /// Why.
        source: std::io::Error,
    },
    /// No new process wrote the pid file in time.
    #[error("no new process took over from {pid} within {} s; the old one keeps serving, and its log says why", .within.as_secs())]
    NotTakenOver {
        /// The old process.
        pid: u32,
        /// How long was waited.
        within: Duration,
    },
}

/// `specgate reload`: asks the process a pid file names to swap itself for its binary, and
/// waits until a new process has taken over. Returns the old and the new process id.
pub fn request_reload(pid_file: &Path, within: Duration) -> Result<(u32, u32), ReloadError> {
    let unreadable = |source| ReloadError::PidFile {
        path: pid_file.display().to_string(),
        source,
    };
    let old = read_pid_file(pid_file).map_err(unreadable)?;
    let pid = i32::try_from(old)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
        .ok_or_else(|| {
            unreadable(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "not a process id",
            ))
        })?;
    rustix::process::kill_process(pid, rustix::process::Signal::HUP).map_err(|e| {
        ReloadError::Signal {
            pid: old,
            source: e.into(),
        }
    })?;
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        match read_pid_file(pid_file) {
            Ok(new) if new != old => return Ok((old, new)),
            _ => std::thread::sleep(Duration::from_millis(50)),
        }
    }
    Err(ReloadError::NotTakenOver { pid: old, within })
}
