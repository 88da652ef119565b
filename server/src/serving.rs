//! Serving threads. One accept loop deals connections round-robin to a fixed set of threads,
//! each running a single-threaded tokio runtime. A connection, its requests and their vendor
//! calls (each thread has its own vendor connection pool, see [`crate::call::serving_thread`])
//! then stay on one thread: no work stealing and no cross-thread wake-up per request.
//! `scripts/bench-serve` measured that hand-off as most of the difference between one and
//! several worker threads of tokio's multi-threaded runtime on a busy machine.
//!
//! The one listening socket stays: `SO_REUSEPORT` would have let a second `specgate serve`
//! bind the same port without an error and silently take half the connections.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Connections dealt to one serving thread, as an [`axum::serve::Listener`].
pub struct Dealt {
    connections: mpsc::UnboundedReceiver<(std::net::TcpStream, SocketAddr)>,
    local: SocketAddr,
}

impl axum::serve::Listener for Dealt {
    type Io = TcpStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (TcpStream, SocketAddr) {
        loop {
            let Some((stream, peer)) = self.connections.recv().await else {
                // The accept loop has stopped; the graceful shutdown ends this server.
                return std::future::pending().await;
            };
            // Registers the socket with this thread's reactor.
            match TcpStream::from_std(stream) {
                Ok(stream) => return (stream, peer),
                Err(error) => tracing::warn!(%error, "cannot take over an accepted connection"),
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local)
    }
}

/// Splits `listener` into `threads` [`Dealt`] listeners and the accept loop that feeds them,
/// which runs until `stop` resolves.
pub fn deal(
    listener: TcpListener,
    threads: usize,
    stop: impl Future<Output = ()> + Send + 'static,
) -> io::Result<(Vec<Dealt>, impl Future<Output = ()> + Send + 'static)> {
    let local = listener.local_addr()?;
    let (senders, listeners): (Vec<_>, Vec<_>) = (0..threads.max(1))
        .map(|_| {
            let (sender, connections) = mpsc::unbounded_channel();
            (sender, Dealt { connections, local })
        })
        .unzip();
    let accept_loop = async move {
        tokio::pin!(stop);
        let mut next = 0;
        loop {
            let accepted = tokio::select! {
                () = &mut stop => return,
                accepted = listener.accept() => accepted,
            };
            // Each write goes out at once, as reqwest sets for vendor connections: with
            // Nagle's algorithm, a small write (an SSE event) that follows another before the
            // client acknowledged it would wait for that acknowledgement.
            let accepted = accepted.inspect(|(stream, _)| {
                if let Err(error) = stream.set_nodelay(true) {
                    tracing::debug!(%error, "cannot turn Nagle's algorithm off for a connection");
                }
            });
            match accepted.and_then(|(stream, peer)| Ok((stream.into_std()?, peer))) {
                Ok(connection) => {
                    // A thread that has already shut down drops what it is dealt.
                    let _ = senders[next].send(connection);
                    next = (next + 1) % senders.len();
                }
                Err(error) if is_connection_error(&error) => {}
                // Out of file descriptors and the like: wait instead of spinning, as axum does.
                Err(error) => {
                    tracing::error!(%error, "accept failed; retrying in 1 s");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    };
    Ok((listeners, accept_loop))
}

/// Errors that concern one connection only (the peer went away before it was accepted).
fn is_connection_error(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// Why serving stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// No listener was dealt.
    #[error("no serving thread")]
    NoThread,
    /// A serving thread or its runtime could not start.
    #[error("cannot start a serving thread: {0}")]
    Start(std::io::Error),
    /// A serving thread panicked.
    #[error("a serving thread panicked")]
    Panicked,
    /// Serving connections failed.
    #[error("serving failed: {0}")]
    Io(#[from] std::io::Error),
}

/// Runs `serve` for each of `listeners` but the first on a thread of its own with a
/// single-threaded runtime, and the first on the calling runtime. Returns when all have
/// finished, with the first error.
pub async fn run_threads<F, Fut>(
    listeners: Vec<Dealt>,
    serve: F,
    stop: &CancellationToken,
) -> Result<(), ServeError>
where
    F: Fn(Dealt) -> Fut + Send + Clone + 'static,
    Fut: Future<Output = Result<(), std::io::Error>>,
{
    let mut listeners = listeners.into_iter();
    let own = listeners.next().ok_or(ServeError::NoThread)?;
    let mut threads = Vec::new();
    for (index, listener) in listeners.enumerate() {
        let serve = serve.clone();
        let stop_all = stop.clone();
        let thread = std::thread::Builder::new()
            .name(format!("specgate-serve-{}", index + 1))
            .spawn(move || {
                crate::call::set_serving_thread(index + 1);
                let served = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(ServeError::Start)
                    .and_then(|runtime| Ok(runtime.block_on(serve(listener))?));
                // One thread failing takes the others down with it.
                if served.is_err() {
                    stop_all.cancel();
                }
                served
            });
        match thread {
            Ok(thread) => threads.push(thread),
            Err(error) => {
                stop.cancel();
                return Err(ServeError::Start(error));
            }
        }
    }
    let mut result = serve(own).await.map_err(ServeError::from);
    if result.is_err() {
        stop.cancel();
    }
    for thread in threads {
        let finished = tokio::task::spawn_blocking(move || thread.join())
            .await
            .map_err(|_| ServeError::Panicked)
            .and_then(|joined| joined.map_err(|_| ServeError::Panicked))
            .and_then(|served| served);
        if result.is_ok() {
            result = finished;
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::serve::Listener;

    #[tokio::test]
    async fn connections_are_dealt_round_robin_and_stop_with_the_accept_loop() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let stop = CancellationToken::new();
        let (mut dealt, accept_loop) = deal(listener, 2, stop.clone().cancelled_owned()).unwrap();
        let accepting = tokio::spawn(accept_loop);
        let mut clients = Vec::new();
        for _ in 0..4 {
            clients.push(TcpStream::connect(address).await.unwrap());
        }
        let mut peers = Vec::new();
        for _ in 0..2 {
            for listener in &mut dealt {
                assert_eq!(listener.local_addr().unwrap(), address);
                let (stream, peer) =
                    tokio::time::timeout(Duration::from_secs(10), listener.accept())
                        .await
                        .expect("each thread is dealt every other connection");
                assert_eq!(stream.peer_addr().unwrap(), peer);
                assert!(
                    stream.nodelay().unwrap(),
                    "replies are not held back by Nagle"
                );
                peers.push(peer);
            }
        }
        let mut ours: Vec<_> = clients.iter().map(|c| c.local_addr().unwrap()).collect();
        ours.sort();
        peers.sort();
        assert_eq!(peers, ours, "every connection reaches exactly one thread");
        stop.cancel();
        accepting.await.unwrap();
        let late = TcpStream::connect(address).await;
        assert!(late.is_err(), "the socket closes with the accept loop");
    }
}
