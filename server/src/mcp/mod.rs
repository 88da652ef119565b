//! The MCP face: the only module that knows rmcp and JSON-RPC. A hand-written rmcp
//! `ServerHandler` over the core ([`Handler`]), served over streamable HTTP with a direct
//! path for `tools/list` and `tools/call` ([`http`]), the legacy HTTP+SSE transport ([`sse`])
//! and stdio ([`serve_stdio`]).

mod discovery;
pub mod http;
mod listing;
mod result;
mod sse;

use std::sync::Arc;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, ElicitRequest,
    ElicitRequestParams, ElicitResult, ElicitationAction, ElicitationSchema, ErrorData as McpError,
    Implementation, InputRequest, InputRequiredResult, ListToolsResult, PaginatedRequestParams,
    ProtocolVersion, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::{RoleServer, ServerHandler, ServiceExt};

pub use http::{McpHttp, router};
pub use listing::McpForms;
pub use result::{RATE_LIMIT_META, ToolResult};

use crate::confirm::{Answer, ConnectGate, Consent, Gate, Question};
use crate::resolution::{Principal, Resolved};
use crate::state::AppState;
use crate::store::Confirm;
use crate::store::SchemaProfile;

/// The rmcp handler. Over HTTP it reads the resolved server from the request; over stdio it is
/// fixed at start.
#[derive(Clone)]
pub struct Handler {
    state: AppState,
    forms: McpForms,
    fixed: Option<Arc<Resolved>>,
}

impl Handler {
    /// A handler for HTTP, resolving per request.
    fn per_request(state: AppState, forms: McpForms) -> Self {
        Self {
            state,
            forms,
            fixed: None,
        }
    }

    fn resolved(
        &self,
        context: &RequestContext<RoleServer>,
    ) -> Result<(Arc<Resolved>, Principal, SchemaProfile), McpError> {
        if let Some(fixed) = &self.fixed {
            return Ok((
                fixed.clone(),
                Principal::default(),
                fixed.server.config.schema_profile,
            ));
        }
        let parts = context
            .extensions
            .get::<::http::request::Parts>()
            .ok_or_else(|| McpError::internal_error("request context is missing", None))?;
        let resolved = parts
            .extensions
            .get::<Arc<Resolved>>()
            .cloned()
            .ok_or_else(|| McpError::internal_error("unresolved MCP token", None))?;
        let principal = parts
            .extensions
            .get::<Principal>()
            .cloned()
            .unwrap_or_default();
        let profile = http::profile(&resolved, parts);
        Ok((resolved, principal, profile))
    }
}

impl Handler {
    /// How this request's client can ask its person: by round trip on 2026-07-28 (the
    /// capabilities come with each request), by `elicitation/create` on a stdio session whose
    /// `initialize` declared elicitation, or not at all over stateless HTTP before 2026-07-28.
    fn reach(
        &self,
        request: &CallToolRequestParams,
        context: &RequestContext<RoleServer>,
    ) -> Reach {
        // rmcp moves a request's `_meta` into the context.
        let meta = request.meta.as_ref().unwrap_or(&context.meta);
        let per_request = meta
            .protocol_version()
            .is_some_and(|v| v.as_str() >= ProtocolVersion::V_2026_07_28.as_str());
        if per_request {
            return match meta.client_capabilities().and_then(|c| c.elicitation) {
                Some(elicitation) => Reach::RoundTrip(Modes {
                    form: takes_forms(&elicitation),
                    url: elicitation.url.is_some(),
                }),
                None => Reach::Unreachable,
            };
        }
        let session_form = self.fixed.is_some()
            && context
                .peer
                .peer_info()
                .and_then(|info| info.capabilities.elicitation.clone())
                .is_some_and(|e| takes_forms(&e));
        if session_form {
            Reach::Session(context.peer.clone())
        } else {
            Reach::Unreachable
        }
    }
}

/// Whether declared elicitation takes forms: `form`, or an empty object (2025-06-18, when
/// forms were the only mode).
fn takes_forms(elicitation: &rmcp::model::ElicitationCapability) -> bool {
    elicitation.form.is_some() || elicitation.url.is_none()
}

fn invalid_list_cursor() -> McpError {
    McpError::invalid_params("Invalid tools/list cursor", None)
}

/// How a client can put a question to its person, for a call the server's policy holds.
pub(crate) enum Reach {
    /// The request is on MCP 2026-07-28 or later and the client declared elicitation: the
    /// call may answer `input_required`, and the retry carries the answer.
    RoundTrip(Modes),
    /// A session with a stream (stdio) whose client declared form elicitation: the server asks
    /// with `elicitation/create` and waits.
    Session(rmcp::Peer<RoleServer>),
    /// Neither: the server's `confirm_fallback` decides.
    Unreachable,
}

/// The elicitation modes a 2026-07-28 client declared.
#[derive(Clone, Copy)]
pub(crate) struct Modes {
    /// Forms: a confirmation can be asked.
    form: bool,
    /// URLs: the person can be sent to connect the account.
    url: bool,
}

/// What a `tools/call` answers.
pub(crate) enum CallAnswer {
    /// The call's result.
    Done(ToolResult),
    /// A question for the person first (MCP 2026-07-28 and later).
    InputRequired(InputRequiredResult),
}

/// The key of the confirmation question among `inputRequests`.
const CONFIRM_REQUEST: &str = "confirm";
/// The key of the request to connect the account.
const CONNECT_REQUEST: &str = "connect";

/// Runs one `tools/call` for a resolved server: the same code behind rmcp and the direct path.
/// A call the server's policy holds for a person goes ahead only once they allow it.
async fn call_tool(
    state: &AppState,
    resolved: &Resolved,
    principal: &Principal,
    profile: SchemaProfile,
    request: CallToolRequestParams,
    reach: Reach,
) -> Result<CallAnswer, McpError> {
    let CallToolRequestParams {
        name,
        arguments,
        input_responses,
        mut request_state,
        ..
    } = request;
    let arguments = arguments.unwrap_or_default();
    if resolved.account.needs_reconnect {
        let consent = match (&reach, request_state.as_deref()) {
            (Reach::RoundTrip(modes), Some(sealed)) if modes.url => Consent::Answered {
                state: sealed,
                answer: answer_of(CONNECT_REQUEST, input_responses.as_ref()),
            },
            (Reach::RoundTrip(modes), None) if modes.url => Consent::Askable,
            _ => Consent::Unreachable,
        };
        let answered = matches!(consent, Consent::Answered { .. });
        match state
            .connect_gate(resolved, principal, &name, &arguments, consent)
            .await
        {
            // Connected now: the state was the connect question's, and a confirmation, if
            // the policy asks one, is asked afresh.
            ConnectGate::Proceed if answered => request_state = None,
            ConnectGate::Proceed => {}
            ConnectGate::Stop(message) => return Ok(CallAnswer::Done(stopped(message))),
            ConnectGate::Connect {
                message,
                url,
                state,
            } => {
                let request = InputRequest::Elicitation(ElicitRequest::new(
                    ElicitRequestParams::UrlElicitationParams {
                        meta: None,
                        message,
                        url,
                        elicitation_id: String::new(),
                    },
                ));
                return Ok(CallAnswer::InputRequired(InputRequiredResult::new(
                    Some(std::collections::BTreeMap::from([(
                        CONNECT_REQUEST.to_owned(),
                        request,
                    )])),
                    Some(state),
                )));
            }
        }
    }
    if resolved.server.config.confirm == Confirm::Never {
        return run_tool(state, resolved, principal, profile, &name, arguments)
            .await
            .map(CallAnswer::Done);
    }
    // Discovery's `call_tool` runs another tool: that one is confirmed, with its arguments.
    let inner = discovery::target(resolved, profile, &name, &arguments);
    let (target, shown) = match &inner {
        Some((target, shown)) => (target.as_str(), shown),
        None => (name.as_ref(), &arguments),
    };
    let consent = match (&reach, request_state.as_deref()) {
        (Reach::RoundTrip(modes), Some(sealed)) if modes.form => Consent::Answered {
            state: sealed,
            answer: answer_of(CONFIRM_REQUEST, input_responses.as_ref()),
        },
        (Reach::RoundTrip(modes), _) if modes.form => Consent::Askable,
        (Reach::Session(_), _) => Consent::Askable,
        _ => Consent::Unreachable,
    };
    let gate = state
        .gate(resolved, principal, target, shown, &arguments, consent)
        .await;
    let gate = match (gate, &reach) {
        (Gate::Ask(question), Reach::RoundTrip(_)) => {
            return Ok(CallAnswer::InputRequired(input_required(question)?));
        }
        (Gate::Ask(question), Reach::Session(peer)) => {
            let answer = ask_in_session(peer, &question).await;
            let consent = Consent::Answered {
                state: &question.state,
                answer,
            };
            state
                .gate(resolved, principal, target, shown, &arguments, consent)
                .await
        }
        (gate, _) => gate,
    };
    match gate {
        Gate::Proceed => {}
        Gate::Stop(message) => return Ok(CallAnswer::Done(stopped(message))),
        Gate::Ask(_) => {
            return Err(McpError::internal_error(
                "a confirmation was asked for twice",
                None,
            ));
        }
    }
    run_tool(state, resolved, principal, profile, &name, arguments)
        .await
        .map(CallAnswer::Done)
}

/// A call that ended before anything was sent: its message, as an error result.
fn stopped(message: String) -> ToolResult {
    ToolResult::Other(CallToolResult::error(vec![ContentBlock::text(message)]))
}

/// The person's answer to the question under `key` among a retry's `inputResponses`.
fn answer_of(key: &str, responses: Option<&rmcp::model::InputResponses>) -> Answer {
    let Some(response) = responses.and_then(|r| r.get(key)) else {
        return Answer::Missing;
    };
    match serde_json::from_value::<ElicitResult>(response.clone()) {
        Ok(result) => answer_in(&result),
        Err(_) => Answer::Missing,
    }
}

/// An elicitation's result as an answer: `accept` allows the call unless its form says
/// `confirm: false`.
fn answer_in(result: &ElicitResult) -> Answer {
    match result.action {
        ElicitationAction::Accept
            if result
                .content
                .as_ref()
                .and_then(|c| c.get("confirm"))
                .and_then(serde_json::Value::as_bool)
                == Some(false) =>
        {
            Answer::Decline
        }
        ElicitationAction::Accept => Answer::Accept,
        ElicitationAction::Decline => Answer::Decline,
        // `cancel`, and any action a later protocol adds: not an allowance.
        _ => Answer::Cancel,
    }
}

/// The confirmation form: the question, and one box the person may untick.
fn confirm_form(question: &Question) -> Result<ElicitRequestParams, McpError> {
    let schema = ElicitationSchema::builder()
        .optional_bool(CONFIRM_REQUEST, true)
        .description("Untick to refuse; a form's Accept then runs nothing.")
        .build()
        .map_err(|error| McpError::internal_error(error.to_string(), None))?;
    Ok(ElicitRequestParams::FormElicitationParams {
        meta: None,
        message: question.message.clone(),
        requested_schema: schema,
    })
}

fn input_required(question: Question) -> Result<InputRequiredResult, McpError> {
    let request = InputRequest::Elicitation(ElicitRequest::new(confirm_form(&question)?));
    Ok(InputRequiredResult::new(
        Some(std::collections::BTreeMap::from([(
            CONFIRM_REQUEST.to_owned(),
            request,
        )])),
        Some(question.state),
    ))
}

/// Asks over the session and waits for the person; a failure to ask counts as no answer.
async fn ask_in_session(peer: &rmcp::Peer<RoleServer>, question: &Question) -> Answer {
    let Ok(params) = confirm_form(question) else {
        return Answer::Missing;
    };
    let timeout = std::time::Duration::from_secs(crate::confirm::CONFIRM_SECS as u64);
    match peer
        .create_elicitation_with_timeout(params, Some(timeout))
        .await
    {
        Ok(result) => answer_in(&result),
        Err(error) => {
            tracing::info!(%error, "the confirmation question could not be asked");
            Answer::Missing
        }
    }
}

/// A tool call with nothing left to ask: discovery's three tools, or the server's own.
async fn run_tool(
    state: &AppState,
    resolved: &Resolved,
    principal: &Principal,
    profile: SchemaProfile,
    name: &str,
    arguments: rmcp::model::JsonObject,
) -> Result<ToolResult, McpError> {
    if discovery::enabled(resolved)
        && let Some(answer) =
            discovery::call(state, resolved, principal, profile, name, arguments.clone()).await
    {
        return answer;
    }
    let call = state
        .call_tool(resolved, principal, profile, name, arguments)
        .await
        .map_err(|unknown| McpError::invalid_params(unknown.to_string(), None))?;
    Ok(ToolResult::of(call, name))
}

impl ServerHandler for Handler {
    fn get_info(&self) -> ServerConfig {
        let mut info = ServerConfig::default();
        info.capabilities = ServerCapabilities::builder().enable_tools().build();
        info.server_info = Implementation::new("specgate", env!("CARGO_PKG_VERSION"));
        info.instructions = Some("Typed tools for a vendor API. List tools return {result, next_cursor}; pass next_cursor back unchanged to page.".to_owned());
        info
    }

    async fn list_tools(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        let (resolved, _, profile) = self.resolved(&context)?;
        let cursor = request.and_then(|r| r.cursor);
        if discovery::enabled(&resolved) {
            return match cursor {
                None => Ok(listing::discovery_page(profile)),
                Some(_) => Err(invalid_list_cursor()),
            };
        }
        self.forms
            .list_page(
                resolved.listing(
                    &self.state.catalog,
                    self.state.config.tools_page_size,
                    profile,
                ),
                cursor.as_deref(),
            )
            .ok_or_else(invalid_list_cursor)
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        let (index, _) = self.state.catalog.resolve_index(name)?;
        Some(self.forms.form(index, SchemaProfile::Full).clone())
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let (resolved, principal, profile) = self.resolved(&context)?;
        let reach = self.reach(&request, &context);
        match call_tool(&self.state, &resolved, &principal, profile, request, reach).await? {
            CallAnswer::Done(result) => {
                if let Some(slot) = context
                    .extensions
                    .get::<::http::request::Parts>()
                    .and_then(|parts| parts.extensions.get::<http::RateLimitSlot>())
                {
                    slot.put(result.rate_limit());
                }
                Ok(result.into_call_tool_result().into())
            }
            CallAnswer::InputRequired(question) => Ok(question.into()),
        }
    }
}

/// Why stdio serving ended early.
#[derive(Debug, thiserror::Error)]
pub enum StdioError {
    /// The MCP session could not start.
    #[error("MCP over stdio could not start: {0}")]
    Start(String),
    /// The session ended with an error.
    #[error("MCP over stdio failed: {0}")]
    Session(String),
}

/// Serves one resolved MCP server over stdin and stdout until the client closes it.
pub async fn serve_stdio(state: AppState, resolved: Resolved) -> Result<(), StdioError> {
    let audit = state.audit.clone();
    let forms = McpForms::new(&state.catalog);
    let handler = Handler {
        state,
        forms,
        fixed: Some(Arc::new(resolved)),
    };
    let service = handler
        .serve(rmcp::transport::stdio())
        .await
        .map_err(|e| StdioError::Start(e.to_string()))?;
    let ended = service.waiting().await;
    audit.close().await;
    ended
        .map(drop)
        .map_err(|e| StdioError::Session(e.to_string()))
}
