//! Confirmation of calls that a server's policy (`config.confirm`) holds for a person. The
//! core knows nothing of MCP: it decides whether a call needs a person, words what the person
//! is asked, seals what the answer binds, and checks that binding when the answer comes back.
//!
//! A confirmation binds the server, the credential that made the call (its OAuth grant or API
//! token), the tool, an HMAC of the exact arguments and an expiry five minutes out. It is
//! sealed (XChaCha20-Poly1305 under a key derived for this purpose) so a client can neither
//! read nor change it, and its nonce is recorded when it is used, so it works once across every
//! instance sharing the database.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::catalog::CatalogTool;
use crate::resolution::{Principal, Resolved};
use crate::state::AppState;
use crate::store::{StoreError, now};

/// How long a person has to answer.
pub const CONFIRM_SECS: i64 = 300;

/// The key-derivation label of sealed confirmations.
const PURPOSE: &str = "specgate confirmation v1";
/// Arguments named in the question besides the path's, and the characters each may show.
const EXTRA_ARGUMENTS: usize = 3;
const VALUE_CHARS: usize = 60;

/// What a sealed confirmation binds.
#[derive(Serialize, Deserialize)]
struct Binding {
    server: String,
    principal: String,
    tool: String,
    arguments: String,
    expires_at: i64,
    nonce: String,
}

/// What a sealed connect question binds: the call it holds, and where the person connects.
#[derive(Serialize, Deserialize)]
struct ConnectBinding {
    server: String,
    principal: String,
    tool: String,
    arguments: String,
    expires_at: i64,
    url: String,
}

/// The key-derivation label of sealed connect questions.
const CONNECT_PURPOSE: &str = "specgate connect question v1";

/// A call on an account that must be connected (again) first.
pub enum ConnectGate {
    /// The account is connected, or this client cannot be sent to connect it (the call then
    /// fails as it always has, naming where an operator reconnects it).
    Proceed,
    /// Send the person to `url` to connect the account, then retry with `state`.
    Connect {
        /// What the person reads.
        message: String,
        /// specgate's start URL of the vendor's consent.
        url: String,
        /// The sealed binding.
        state: String,
    },
    /// The call ends here, with this message for the model; nothing was sent.
    Stop(String),
}

/// A question for the person, and the sealed state its answer must come back with.
pub struct Question {
    /// What the person reads: what will happen, where, and to what.
    pub message: String,
    /// The sealed binding.
    pub state: String,
}

/// Why an answer does not confirm the call. Nothing is sent to the vendor.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// The state is not one this server sealed.
    #[error("the confirmation is not valid: ask again by calling the tool without it")]
    Invalid,
    /// It confirms another call: other arguments, another tool, server or credential.
    #[error(
        "the confirmation was given for a different call (other arguments, tool, server or credential): ask again by calling the tool without it"
    )]
    OtherCall,
    /// It is past its five minutes.
    #[error("the confirmation has expired: ask again by calling the tool without it")]
    Expired,
    /// It has been used already.
    #[error("the confirmation has been used already: each one runs one call")]
    Replayed,
    /// The store could not record its use.
    #[error("the confirmation could not be recorded: {0}")]
    Store(#[from] StoreError),
}

impl Refusal {
    /// The audit log's outcome class of the refused call.
    pub fn class(&self) -> crate::call::CallClass {
        match self {
            Self::Expired => crate::call::CallClass::ConfirmationExpired,
            Self::Store(_) => crate::call::CallClass::Internal,
            _ => crate::call::CallClass::ConfirmationRefused,
        }
    }
}

/// What the client can do about a call that needs a person, as the face that received it
/// knows.
pub enum Consent<'a> {
    /// Nothing reaches the person: no elicitation declared, or a transport that cannot carry
    /// the question. The server's `confirm_fallback` decides.
    Unreachable,
    /// The client can put a question to the person; this call carries no answer yet.
    Askable,
    /// The client came back with the person's answer and the state the question sealed.
    Answered {
        /// The sealed state, as the client echoed it.
        state: &'a str,
        /// What the person chose.
        answer: Answer,
    },
}

/// What the person chose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// Run it.
    Accept,
    /// Do not run it.
    Decline,
    /// Dismissed without a choice.
    Cancel,
    /// The client sent no answer to the question.
    Missing,
}

/// Whether a call goes ahead.
pub enum Gate {
    /// No confirmation is needed, or it was given (or the fallback allows the call).
    Proceed,
    /// The person must be asked this first.
    Ask(Question),
    /// The call ends here, with this message for the model; nothing was sent.
    Stop(String),
}

/// What a call of a tool that needs a person, from a client that cannot ask, is told.
const CANNOT_ASK: &str = "needs a person's confirmation before it runs (this MCP server's policy), and this client cannot ask for it: it did not declare elicitation, or its connection cannot carry the question. Clients that can: those on MCP 2026-07-28 that declare elicitation, and stdio clients that declare it. Nothing was sent to the vendor.";

impl AppState {
    /// A call on an account marked `needs_reconnect`, from a client that can send its person
    /// to a URL (`can_send` with `consent`'s answer if it brings one): where to connect it, or
    /// whether it is connected now. Every other call proceeds.
    pub async fn connect_gate(
        &self,
        resolved: &Resolved,
        principal: &Principal,
        name: &str,
        exact: &Map<String, Value>,
        consent: Consent<'_>,
    ) -> ConnectGate {
        if !resolved.account.needs_reconnect {
            return ConnectGate::Proceed;
        }
        let Some((tool, _)) = self.visible_tool(resolved, name) else {
            return ConnectGate::Proceed;
        };
        let binding = match consent {
            Consent::Unreachable => return ConnectGate::Proceed,
            Consent::Askable => None,
            Consent::Answered { state, answer } => {
                match self.open_connect(resolved, principal, tool, exact, state) {
                    Ok(binding) => Some((binding, answer)),
                    Err(refusal) => return ConnectGate::Stop(format!("Not run: {refusal}.")),
                }
            }
        };
        let url = match binding {
            None => None,
            Some((binding, answer)) => {
                // The resolution this call came with may predate the callback.
                match self.store.get_account(&resolved.account.id).await {
                    Ok(Some(account)) if !account.needs_reconnect => return ConnectGate::Proceed,
                    Ok(_) => {}
                    Err(error) => {
                        return ConnectGate::Stop(format!(
                            "Not run: the account could not be read: {error}."
                        ));
                    }
                }
                if matches!(answer, Answer::Decline | Answer::Cancel) {
                    return ConnectGate::Stop(format!(
                        "Not run: the {} account “{}” was not connected. Nothing was sent to the vendor.",
                        tool.integration.title, resolved.account.name
                    ));
                }
                Some(binding.url)
            }
        };
        let url = match url {
            Some(url) => url,
            None => {
                let started = crate::provision::Provisioner::new(self.clone())
                    .reconnect(&resolved.account.id, crate::connect::Reconnect::default())
                    .await;
                match started {
                    Ok(started) => started.authorize_url,
                    // No OAuth app or public URL: the call fails as before, naming the fix.
                    Err(_) => return ConnectGate::Proceed,
                }
            }
        };
        let binding = ConnectBinding {
            server: resolved.server.id.clone(),
            principal: credential(principal),
            tool: tool.def.name.to_owned(),
            arguments: self.arguments_mac(exact),
            expires_at: now() + crate::connect::CONNECTION_SECS,
            url: url.clone(),
        };
        let plain = serde_json::to_vec(&binding).unwrap_or_default();
        match self.keys.seal_for(CONNECT_PURPOSE, &plain) {
            Ok(state) => ConnectGate::Connect {
                message: format!(
                    "{} refused the “{}” account's sign-in: connect it again at {} (you sign in there, not here), then continue, and {} runs.",
                    tool.integration.title,
                    resolved.account.name,
                    tool.integration.title,
                    tool.def.title
                ),
                url,
                state,
            },
            Err(error) => ConnectGate::Stop(format!(
                "Not run: the question could not be prepared: {error}."
            )),
        }
    }

    fn open_connect(
        &self,
        resolved: &Resolved,
        principal: &Principal,
        tool: &CatalogTool,
        exact: &Map<String, Value>,
        state: &str,
    ) -> Result<ConnectBinding, Refusal> {
        let plain = self
            .keys
            .open_for(CONNECT_PURPOSE, state)
            .map_err(|_| Refusal::Invalid)?;
        let binding: ConnectBinding =
            serde_json::from_slice(&plain).map_err(|_| Refusal::Invalid)?;
        if binding.server != resolved.server.id
            || binding.principal != credential(principal)
            || binding.tool != tool.def.name
            || binding.arguments != self.arguments_mac(exact)
        {
            return Err(Refusal::OtherCall);
        }
        if binding.expires_at <= now() {
            return Err(Refusal::Expired);
        }
        Ok(binding)
    }

    /// Whether a call of tool `name` goes ahead under the server's confirmation policy, given
    /// what the client can do (`consent`). `shown` are the arguments the question names (the
    /// tool's own); `exact` are the call's arguments as sent, which the confirmation binds.
    /// A name the server does not expose goes ahead, to be refused by the call itself.
    /// Asking, declining, expiry and refusals are recorded in the audit log and metrics.
    pub async fn gate(
        &self,
        resolved: &Resolved,
        principal: &Principal,
        name: &str,
        shown: &Map<String, Value>,
        exact: &Map<String, Value>,
        consent: Consent<'_>,
    ) -> Gate {
        use crate::call::CallClass;
        let Some((tool, _)) = self.visible_tool(resolved, name) else {
            return Gate::Proceed;
        };
        if !resolved.server.config.confirm.applies(tool.def) {
            return Gate::Proceed;
        }
        let (class, gate) = match consent {
            Consent::Unreachable => match resolved.server.config.confirm_fallback {
                crate::store::ConfirmFallback::Allow => return Gate::Proceed,
                crate::store::ConfirmFallback::Refuse => (
                    CallClass::ConfirmationRefused,
                    Gate::Stop(format!("{} {CANNOT_ASK}", tool.def.name)),
                ),
            },
            Consent::Askable => match self.question(resolved, principal, tool, shown, exact) {
                Ok(question) => (CallClass::ConfirmationAsked, Gate::Ask(question)),
                Err(error) => (
                    CallClass::Internal,
                    Gate::Stop(format!("The confirmation could not be prepared: {error}")),
                ),
            },
            Consent::Answered { state, answer } => {
                match self.confirmed(resolved, principal, tool, exact, state).await {
                    Err(refusal) => (refusal.class(), Gate::Stop(format!("Not run: {refusal}."))),
                    Ok(()) => match answer {
                        Answer::Accept => (CallClass::Confirmed, Gate::Proceed),
                        Answer::Decline => (
                            CallClass::ConfirmationDeclined,
                            Gate::Stop("Not run: the person declined this call. Nothing was sent to the vendor.".to_owned()),
                        ),
                        Answer::Cancel => (
                            CallClass::ConfirmationDeclined,
                            Gate::Stop("Not run: the person dismissed the question without allowing the call. Nothing was sent to the vendor.".to_owned()),
                        ),
                        Answer::Missing => (
                            CallClass::ConfirmationRefused,
                            Gate::Stop("Not run: the retry carried no answer to the confirmation question.".to_owned()),
                        ),
                    },
                }
            }
        };
        self.record_unsent(resolved, principal, tool, exact, class);
        gate
    }

    /// The question for a call of `tool` naming `shown`, and its sealed binding of `exact`.
    fn question(
        &self,
        resolved: &Resolved,
        principal: &Principal,
        tool: &CatalogTool,
        shown: &Map<String, Value>,
        exact: &Map<String, Value>,
    ) -> Result<Question, crate::crypto::CryptoError> {
        let binding = Binding {
            server: resolved.server.id.clone(),
            principal: credential(principal),
            tool: tool.def.name.to_owned(),
            arguments: self.arguments_mac(exact),
            expires_at: now() + CONFIRM_SECS,
            nonce: crate::crypto::new_token("")?,
        };
        let plain = serde_json::to_vec(&binding).unwrap_or_default();
        Ok(Question {
            message: question_text(resolved, tool, shown),
            state: self.keys.seal_for(PURPOSE, &plain)?,
        })
    }

    /// Checks that `state` confirms exactly this call, and uses it up.
    async fn confirmed(
        &self,
        resolved: &Resolved,
        principal: &Principal,
        tool: &CatalogTool,
        arguments: &Map<String, Value>,
        state: &str,
    ) -> Result<(), Refusal> {
        let plain = self
            .keys
            .open_for(PURPOSE, state)
            .map_err(|_| Refusal::Invalid)?;
        let binding: Binding = serde_json::from_slice(&plain).map_err(|_| Refusal::Invalid)?;
        if binding.server != resolved.server.id
            || binding.principal != credential(principal)
            || binding.tool != tool.def.name
            || binding.arguments != self.arguments_mac(arguments)
        {
            return Err(Refusal::OtherCall);
        }
        if binding.expires_at <= now() {
            return Err(Refusal::Expired);
        }
        let nonce = self.keys.hash_token(&binding.nonce);
        if self
            .store
            .use_confirmation(&nonce, binding.expires_at)
            .await?
        {
            Ok(())
        } else {
            Err(Refusal::Replayed)
        }
    }

    fn arguments_mac(&self, arguments: &Map<String, Value>) -> String {
        let mut canonical = Value::Object(arguments.clone());
        canonical.sort_all_objects();
        self.keys.mac_arguments(&canonical)
    }
}

/// The credential a confirmation is bound to: the grant, else the API token, else the URL
/// alone.
fn credential(principal: &Principal) -> String {
    match (&principal.grant_id, &principal.api_token_id) {
        (Some(grant), _) => format!("grant:{grant}"),
        (None, Some(token)) => format!("api-token:{token}"),
        (None, None) => "url".to_owned(),
    }
}

/// What the person is asked, in words: the tool's title, the vendor and account, what kind of
/// change it is, and the arguments that identify its target (the path's, then a few more).
pub fn question_text(
    resolved: &Resolved,
    tool: &CatalogTool,
    arguments: &Map<String, Value>,
) -> String {
    let path_parameters: Vec<&str> = tool
        .def
        .endpoint
        .split(['{', '}'])
        .skip(1)
        .step_by(2)
        .collect();
    let shown = |name: &str, value: &Value| {
        let text = match value {
            Value::String(text) => text.clone(),
            other => other.to_string(),
        };
        let mut cut: String = text.chars().take(VALUE_CHARS).collect();
        if cut.len() < text.len() {
            cut.push('…');
        }
        format!("{name} = {cut}")
    };
    let mut named: Vec<String> = path_parameters
        .iter()
        .filter_map(|name| arguments.get(*name).map(|value| shown(name, value)))
        .collect();
    let scalars = arguments.iter().filter(|(name, value)| {
        !path_parameters.contains(&name.as_str()) && !value.is_object() && !value.is_array()
    });
    named.extend(
        scalars
            .take(EXTRA_ARGUMENTS)
            .map(|(name, value)| shown(name, value)),
    );
    let kind = if tool.def.annotations.destructive {
        "This deletes or overwrites data"
    } else if tool.def.annotations.read_only {
        "This only reads data"
    } else {
        "This changes data"
    };
    let target = if named.is_empty() {
        String::new()
    } else {
        format!(", with {}", named.join(", "))
    };
    format!(
        "{} ({}) on the {} account “{}”{target}. {kind} at {}. Allow it?",
        tool.def.title,
        tool.def.name,
        tool.integration.title,
        resolved.account.name,
        tool.integration.title
    )
}
