//! In-process sandboxes of the three seed vendors, for end-to-end tests and `specgate demo`.
//! Each honours its vendor's pagination, envelope, error shape and auth, and can be scripted
//! to answer the next request with any status and headers (e.g. a 429 with rate-limit headers).
//!
//! Mounted on one listener: `/malomo`, `/edesk/v1`, `/roserocket/api/v2/platformModel`, and
//! Rose Rocket's OAuth endpoints: its consent page at `/roserocket/authorize` (the
//! authorization-code grant with PKCE, for connecting an account) and its token endpoint at
//! `/roserocket/oauth/token`. The sandbox's OAuth client is `rr_client` / `rr_secret`.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Form, Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

/// A response the next sandbox request gets instead of the normal one.
#[derive(Debug, Clone, Deserialize)]
pub struct Scripted {
    /// Status code.
    pub status: u16,
    /// Headers.
    #[serde(default)]
    pub headers: Vec<(String, String)>,
    /// Body: a JSON string is sent as raw text, anything else as JSON.
    #[serde(default)]
    pub body: Value,
    /// Milliseconds to wait before answering (for timeouts).
    #[serde(default)]
    pub delay_ms: u64,
}

/// A request the sandbox received, for assertions.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// Method.
    pub method: String,
    /// Path and query.
    pub uri: String,
    /// `Authorization` header as received.
    pub authorization: Option<String>,
    /// `Accept` header.
    pub accept: Option<String>,
    /// The body as received.
    pub body: bytes::Bytes,
}

/// Shared sandbox state.
#[derive(Default)]
pub struct Sandbox {
    script: Mutex<VecDeque<Scripted>>,
    log: Mutex<Vec<Recorded>>,
    /// How many OAuth token requests were answered.
    pub token_requests: AtomicU64,
    rose_tokens: Mutex<RoseTokens>,
}

#[derive(Default)]
struct RoseTokens {
    access: Option<String>,
    refresh: String,
    generation: u64,
    /// Codes the consent page issued: code to (redirect URI, S256 challenge, organization).
    codes: HashMap<String, (String, String, &'static str)>,
    /// The organization the last tokens act for.
    org: &'static str,
    /// The forms of every token request received, for assertions.
    forms: Vec<HashMap<String, String>>,
}

impl Sandbox {
    /// Queues a scripted response.
    pub fn script(&self, scripted: Scripted) {
        self.script
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push_back(scripted);
    }

    /// Requests received so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.log
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The forms of the requests the Rose Rocket token endpoint received, oldest first.
    pub fn rose_token_forms(&self) -> Vec<HashMap<String, String>> {
        self.rose_tokens
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .forms
            .clone()
    }

    /// The refresh token the Rose Rocket sandbox currently accepts.
    pub fn rose_refresh_token(&self) -> String {
        self.rose_tokens
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .refresh
            .clone()
    }
}

/// Starts the sandboxes on an ephemeral loopback port.
pub async fn spawn() -> std::io::Result<(SocketAddr, Arc<Sandbox>)> {
    let sandbox = Arc::new(Sandbox::default());
    sandbox
        .rose_tokens
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .refresh = "rr_refresh_0".to_owned();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    let app = router(sandbox.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((address, sandbox))
}

/// The sandbox router.
pub fn router(sandbox: Arc<Sandbox>) -> Router {
    let malomo = Router::new()
        .route("/orders", get(malomo_orders).post(echo_created))
        .route(
            "/orders/{id}",
            get(malomo_order)
                .put(malomo_update_order)
                .delete(echo_deleted),
        )
        .route("/orders/{id}/events", get(malomo_events).post(echo_created))
        .route("/customers", get(malomo_customers).post(echo_created))
        .route(
            "/customers/{id}",
            get(malomo_customer)
                .put(malomo_customer)
                .delete(echo_deleted),
        )
        .route("/customers/{id}/events", get(malomo_events))
        .route("/webhooks", get(malomo_webhooks).post(echo_created))
        .route(
            "/webhooks/{id}",
            get(malomo_webhook).put(malomo_webhook).delete(echo_deleted),
        )
        .route("/returns", get(malomo_returns))
        .route("/returns/{id}", get(malomo_return))
        .route("/accounts/self", get(malomo_account))
        .layer(axum::middleware::from_fn(malomo_guard));
    let edesk = Router::new()
        .route("/tickets", get(edesk_tickets))
        .route("/tickets/{id}", get(edesk_ticket).put(edesk_echo))
        .route("/sales-orders/{id}", get(edesk_sales_order).put(edesk_echo))
        .route("/messages", post(edesk_echo))
        .route("/messages/{id}", get(edesk_message))
        .route("/order-notes", get(edesk_order_notes).post(edesk_echo))
        .route("/order-notes/{id}", get(edesk_order_note).put(edesk_echo))
        .route("/templates", get(edesk_templates).post(edesk_echo))
        .route("/tags", get(edesk_tags))
        .route("/tags/{id}", get(edesk_tag))
        .route("/tag-groups", get(edesk_tag_groups))
        .route("/channels", get(edesk_channels))
        .route("/contacts", get(edesk_contacts))
        .layer(axum::middleware::from_fn(bearer_guard));
    let rose = Router::new()
        .route("/objects", post(rose_create))
        .route("/objects/search", post(rose_search))
        .route(
            "/objects/{id}",
            get(rose_object).put(rose_object).delete(echo_deleted),
        )
        .route(
            "/objects/{key}/{external}/external",
            get(rose_external).patch(rose_external).delete(echo_deleted),
        )
        .route("/events", get(rose_events).post(echo_created))
        .route("/userGroups", get(rose_user_groups).post(echo_created))
        .route(
            "/userGroups/{id}/members",
            get(rose_members).post(rose_member_update),
        )
        .route("/boards/nav", get(rose_boards))
        .layer(axum::middleware::from_fn_with_state(
            sandbox.clone(),
            rose_guard,
        ));
    Router::new()
        .nest("/malomo", malomo)
        .nest("/edesk/v1", edesk)
        .nest("/roserocket/api/v2/platformModel", rose)
        .route("/roserocket/oauth/token", post(rose_token))
        .route("/roserocket/authorize", get(rose_authorize))
        .route("/__sandbox/script", put(script_next))
        .route("/__sandbox/form-echo", post(form_echo))
        .layer(axum::middleware::from_fn_with_state(
            sandbox.clone(),
            record_and_script,
        ))
        .with_state(sandbox)
}

/// Parses a form body the way Stripe documents its encoding (`metadata[key]=v`,
/// `items[0][price]=p`, a repeated key is a list) and answers with the JSON it means.
async fn form_echo(Form(pairs): Form<Vec<(String, String)>>) -> Json<Value> {
    let mut root = json!({});
    for (key, value) in pairs {
        let mut segments: Vec<String> = Vec::new();
        let (head, rest) = key
            .split_once('[')
            .map_or((key.as_str(), ""), |(h, r)| (h, r));
        segments.push(head.to_owned());
        for part in rest.split('[') {
            let part = part.trim_end_matches(']');
            if !part.is_empty() {
                segments.push(part.to_owned());
            }
        }
        let mut node = &mut root;
        for (depth, segment) in segments.iter().enumerate() {
            let last = depth + 1 == segments.len();
            let next_is_index = segments
                .get(depth + 1)
                .is_some_and(|s| s.parse::<usize>().is_ok());
            let empty = if next_is_index { json!([]) } else { json!({}) };
            node = match (node, segment.parse::<usize>()) {
                (Value::Array(items), Ok(index)) => {
                    while items.len() <= index {
                        items.push(Value::Null);
                    }
                    if last {
                        items[index] = json!(value);
                        break;
                    }
                    if items[index].is_null() {
                        items[index] = empty;
                    }
                    &mut items[index]
                }
                (Value::Object(object), _) => {
                    if last {
                        // A repeated plain key is a list (OpenAPI's form style).
                        match object.get_mut(segment) {
                            Some(Value::Array(items)) => items.push(json!(value)),
                            Some(existing) => {
                                let first = existing.take();
                                *existing = json!([first, value]);
                            }
                            None => {
                                object.insert(segment.clone(), json!(value));
                            }
                        }
                        break;
                    }
                    object.entry(segment.clone()).or_insert(empty)
                }
                (other, _) => other,
            };
        }
    }
    Json(root)
}

async fn script_next(
    State(sandbox): State<Arc<Sandbox>>,
    Json(scripted): Json<Scripted>,
) -> StatusCode {
    sandbox.script(scripted);
    StatusCode::NO_CONTENT
}

async fn record_and_script(
    State(sandbox): State<Arc<Sandbox>>,
    request: Request,
    next: Next,
) -> Response {
    if request.uri().path().starts_with("/__sandbox") {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let Ok(body) = axum::body::to_bytes(body, 1024 * 1024).await else {
        return StatusCode::PAYLOAD_TOO_LARGE.into_response();
    };
    let request = Request::from_parts(parts, axum::body::Body::from(body.clone()));
    let recorded = {
        let header = |name: &str| {
            request
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        Recorded {
            method: request.method().to_string(),
            uri: request.uri().to_string(),
            authorization: header("authorization"),
            accept: header("accept"),
            body,
        }
    };
    sandbox
        .log
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .push(recorded);
    let scripted = sandbox
        .script
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .pop_front();
    match scripted {
        None => next.run(request).await,
        Some(scripted) => {
            tokio::time::sleep(std::time::Duration::from_millis(scripted.delay_ms)).await;
            let status =
                StatusCode::from_u16(scripted.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let body = match scripted.body {
                Value::String(text) => text.into_response(),
                json => Json(json).into_response(),
            };
            let mut response = (status, body).into_response();
            for (name, value) in scripted.headers {
                if let (Ok(name), Ok(value)) =
                    (HeaderName::try_from(name), HeaderValue::try_from(value))
                {
                    response.headers_mut().insert(name, value);
                }
            }
            response
        }
    }
}

// ---- Malomo: bare arrays, cursors in a Link header, {code, message, request_id, status} ----

fn malomo_error(status: StatusCode, code: &str, message: &str) -> Response {
    (status, Json(json!({"code": code, "message": message, "request_id": "req_sandbox", "status": status.as_u16()}))).into_response()
}

async fn malomo_guard(request: Request, next: Next) -> Response {
    let accept = request
        .headers()
        .get("accept")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !accept.contains("application/vnd.malomo+json; version=2") {
        return malomo_error(
            StatusCode::NOT_ACCEPTABLE,
            "unsupported_version",
            "send Accept: application/vnd.malomo+json; version=2",
        );
    }
    if request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        != Some("Bearer sk_sandbox_malomo")
    {
        return malomo_error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "no valid API key provided",
        );
    }
    next.run(request).await
}

fn malomo_order_data(n: usize) -> Value {
    json!({
        "id": format!("ord_{n:04}"), "alternate_id": format!("shop_{n}"), "number": format!("#{}", 1000 + n),
        "email": format!("buyer{n}@example.com"),
        "customer": {"email": format!("buyer{n}@example.com"), "first_name": "Ada", "last_name": format!("Buyer{n}")},
        "meta": {"shopify_order": {"order_id": 450789460 + n}},
        "shipments": [{"id": format!("shp_{n}"), "carrier": "usps", "tracking_code": format!("9400{n:06}"), "status": if n.is_multiple_of(2) { "delivered" } else { "in_transit" }}],
        "created_at": "2026-11-01T10:00:00Z", "updated_at": "2026-11-02T10:00:00Z"
    })
}

const MALOMO_ORDERS: usize = 5;
const MALOMO_PAGE: usize = 2;

async fn malomo_orders(Query(query): Query<HashMap<String, String>>) -> Response {
    let all: Vec<Value> = (1..=MALOMO_ORDERS).map(malomo_order_data).collect();
    let filters = ["alternate_id", "number", "customer_email", "tracking_code"];
    if filters.iter().any(|f| query.contains_key(*f)) {
        let matches: Vec<Value> = all
            .into_iter()
            .filter(|o| {
                query
                    .get("alternate_id")
                    .is_none_or(|v| o["alternate_id"] == *v)
                    && query.get("number").is_none_or(|v| o["number"] == *v)
                    && query
                        .get("customer_email")
                        .is_none_or(|v| o["customer"]["email"] == *v)
                    && query
                        .get("tracking_code")
                        .is_none_or(|v| o["shipments"][0]["tracking_code"] == *v)
            })
            .collect();
        return Json(Value::Array(matches)).into_response();
    }
    let start: usize = query
        .get("next")
        .and_then(|c| c.strip_prefix("cur_"))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let page: Vec<Value> = all.into_iter().skip(start).take(MALOMO_PAGE).collect();
    let mut response = Json(Value::Array(page)).into_response();
    if start + MALOMO_PAGE < MALOMO_ORDERS {
        let link = format!(
            "<https://api.gomalomo.com/orders?next=cur_{}>; rel=\"next\"",
            start + MALOMO_PAGE
        );
        if let Ok(value) = HeaderValue::from_str(&link) {
            response.headers_mut().insert("link", value);
        }
    }
    response
}

async fn malomo_order(Path(id): Path<String>) -> Response {
    match (1..=MALOMO_ORDERS)
        .map(malomo_order_data)
        .find(|o| o["id"] == *id)
    {
        Some(order) => Json(order).into_response(),
        None => malomo_error(StatusCode::NOT_FOUND, "not_found", "order not found"),
    }
}

async fn malomo_update_order(Path(id): Path<String>, Json(body): Json<Value>) -> Response {
    let Some(mut order) = (1..=MALOMO_ORDERS)
        .map(malomo_order_data)
        .find(|o| o["id"] == *id)
    else {
        return malomo_error(StatusCode::NOT_FOUND, "not_found", "order not found");
    };
    if let (Value::Object(order), Value::Object(changes)) = (&mut order, body) {
        order.extend(changes);
    }
    Json(order).into_response()
}

async fn malomo_events(Path(id): Path<String>) -> Json<Value> {
    Json(
        json!([{"id": "evt_1", "type": "ShopifyOrderFulfilled", "label": format!("Order {id} fulfilled"), "properties": {}, "timestamp": 1_761_998_400}]),
    )
}

async fn malomo_customer(Path(id): Path<String>) -> Json<Value> {
    Json(
        json!({"id": id, "email": "buyer1@example.com", "first_name": "Ada", "last_name": "Buyer1", "phone_number": "+15550100"}),
    )
}

async fn malomo_webhook(Path(id): Path<String>) -> Json<Value> {
    Json(
        json!({"id": id, "topic": "events:created", "url": "https://hooks.example.com/malomo", "active": true}),
    )
}

fn malomo_return_data(n: usize) -> Value {
    json!({"id": format!("ret_{n}"), "alternate_id": format!("rma_{n}"), "order_id": format!("ord_{n:04}"), "status": "requested"})
}

/// Returns come back whole (no paging), so the server pages them itself.
async fn malomo_returns(Query(query): Query<HashMap<String, String>>) -> Json<Value> {
    Json(Value::Array(
        (1..=3)
            .map(malomo_return_data)
            .filter(|r| {
                query
                    .get("alternate_id")
                    .is_none_or(|v| r["alternate_id"] == *v)
            })
            .collect(),
    ))
}

async fn malomo_return(Path(id): Path<String>) -> Json<Value> {
    let mut found = malomo_return_data(1);
    found["id"] = json!(id);
    Json(found)
}

async fn malomo_account() -> Json<Value> {
    Json(json!({"id": "acct_1", "name": "Sandbox Store", "domain": "sandbox.example.com"}))
}

async fn malomo_customers() -> Json<Value> {
    Json(
        json!([{"id": "cus_1", "email": "buyer1@example.com", "first_name": "Ada", "last_name": "Buyer1", "phone_number": "+15550100"}]),
    )
}

async fn malomo_webhooks() -> Json<Value> {
    Json(
        json!([{"id": "wh_1", "topic": "events:created", "url": "https://hooks.example.com/malomo", "active": true}]),
    )
}

async fn echo_created(body: Option<Json<Value>>) -> Response {
    let mut created = body.map_or_else(|| json!({}), |Json(b)| b);
    if let Value::Object(object) = &mut created {
        object.insert("id".to_owned(), json!("new_1"));
    }
    (StatusCode::CREATED, Json(created)).into_response()
}

async fn echo_deleted() -> StatusCode {
    StatusCode::NO_CONTENT
}

// ---- eDesk: {data} and {data, paginator} envelopes, page/itemsPerPage ----

async fn bearer_guard(request: Request, next: Next) -> Response {
    if request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        != Some("Bearer edesk_sandbox_token")
    {
        return (StatusCode::UNAUTHORIZED, Json(json!({"error": {"httpCode": 401, "message": "Invalid or expired token", "details": ""}}))).into_response();
    }
    next.run(request).await
}

fn edesk_page(items: Vec<Value>, query: &HashMap<String, String>) -> Json<Value> {
    let page: usize = query
        .get("page")
        .and_then(|p| p.parse().ok())
        .unwrap_or(1)
        .max(1);
    let per_page: usize = query
        .get("itemsPerPage")
        .and_then(|p| p.parse().ok())
        .unwrap_or(25)
        .clamp(1, 100);
    let total = items.len();
    let data: Vec<Value> = items
        .into_iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .collect();
    Json(
        json!({"data": data, "paginator": {"currentPage": page, "itemsPerPage": per_page, "totalItemsCount": total}}),
    )
}

fn edesk_ticket_data(id: i64) -> Value {
    json!({"id": id, "subject": format!("Where is my order #{id}?"), "type": "OrderQuery", "channel_id": 7, "status": "Open", "sales_order_id": 500 + id, "contact_id": 900 + id, "tags_ids": [3], "messages_ids": [id * 10], "created_at": "2026-11-01 10:00:00"})
}

async fn edesk_tickets(Query(query): Query<HashMap<String, String>>) -> Json<Value> {
    let tickets: Vec<Value> = (1..=5)
        .map(edesk_ticket_data)
        .filter(|t| {
            query
                .get("filter_status_equals")
                .is_none_or(|s| t["status"] == *s)
        })
        .collect();
    edesk_page(tickets, &query)
}

async fn edesk_ticket(Path(id): Path<i64>) -> Response {
    if (1..=5).contains(&id) {
        Json(json!({"data": edesk_ticket_data(id)})).into_response()
    } else {
        (
            StatusCode::NOT_FOUND,
            Json(json!({"error": {"httpCode": 404, "message": "Ticket not found", "details": ""}})),
        )
            .into_response()
    }
}

async fn edesk_sales_order(Path(id): Path<i64>) -> Json<Value> {
    Json(
        json!({"data": {"id": id, "channel_id": 7, "seller_order_id": format!("AMZ-{id}"), "status": "OrderShipped", "total_amount": 42.5, "tracking_codes": [{"tracking_code": "1Z999", "tracking_carrier_name": "UPS"}]}}),
    )
}

async fn edesk_echo(Json(body): Json<Value>) -> Json<Value> {
    let mut data = body;
    if let Value::Object(object) = &mut data {
        object.entry("id").or_insert(json!(12345));
    }
    Json(json!({"data": data}))
}

async fn edesk_message(Path(id): Path<i64>) -> Json<Value> {
    Json(
        json!({"data": {"id": id, "ticket_id": 1, "type": "Outgoing", "body": "Your parcel is on its way.", "created_at": "2026-11-01 12:00:00"}}),
    )
}

async fn edesk_order_note(Path(id): Path<i64>) -> Json<Value> {
    Json(
        json!({"data": {"id": id, "sales_order_id": 501, "text": "Customer called about delivery", "created_at": "2026-11-01 11:00:00"}}),
    )
}

async fn edesk_tag(Path(id): Path<i64>) -> Json<Value> {
    Json(
        json!({"data": {"id": id, "name": "VIP", "active": true, "color": "F44336", "icon": "heart"}}),
    )
}

async fn edesk_tag_groups(Query(query): Query<HashMap<String, String>>) -> Json<Value> {
    edesk_page(
        vec![json!({"id": 1, "name": "Priority", "tags_ids": [3]})],
        &query,
    )
}

async fn edesk_channels(Query(query): Query<HashMap<String, String>>) -> Json<Value> {
    edesk_page(
        vec![json!({"id": 7, "name": "Amazon US", "type": "amazon", "active": true})],
        &query,
    )
}

async fn edesk_contacts(Query(query): Query<HashMap<String, String>>) -> Json<Value> {
    edesk_page(
        (1..=3)
            .map(|n| json!({"id": 900 + n, "name": format!("Buyer {n}"), "email": format!("buyer{n}@example.com")}))
            .collect(),
        &query,
    )
}

async fn edesk_order_notes(Query(query): Query<HashMap<String, String>>) -> Json<Value> {
    edesk_page(
        vec![
            json!({"id": 1, "sales_order_id": 501, "text": "Customer called about delivery", "created_at": "2026-11-01 11:00:00"}),
        ],
        &query,
    )
}

async fn edesk_templates(Query(query): Query<HashMap<String, String>>) -> Json<Value> {
    edesk_page(
        vec![json!({"id": 1, "name": "Shipping delay", "body": "Sorry, your parcel is delayed."})],
        &query,
    )
}

async fn edesk_tags(Query(query): Query<HashMap<String, String>>) -> Json<Value> {
    edesk_page(
        vec![json!({"id": 3, "name": "VIP", "active": true, "color": "F44336", "icon": "heart"})],
        &query,
    )
}

// ---- Rose Rocket: OAuth bearer with refresh rotation, {total, results}, NestJS errors ----

async fn rose_guard(State(sandbox): State<Arc<Sandbox>>, request: Request, next: Next) -> Response {
    let expected = sandbox
        .rose_tokens
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .access
        .clone();
    let sent = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if expected.is_none() || sent != expected.as_deref() {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"statusCode": 401, "message": "Unauthorized", "error": "Unauthorized"})),
        )
            .into_response();
    }
    next.run(request).await
}

async fn rose_token(
    State(sandbox): State<Arc<Sandbox>>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    sandbox.token_requests.fetch_add(1, Ordering::SeqCst);
    // Slow enough that concurrent callers overlap, so single-flight is actually exercised.
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let mut tokens = sandbox
        .rose_tokens
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    tokens.forms.push(form.clone());
    let ok = form.get("client_id").map(String::as_str) == Some("rr_client")
        && form.get("client_secret").map(String::as_str) == Some("rr_secret");
    let grant_ok = match form.get("grant_type").map(String::as_str) {
        Some("refresh_token") => form.get("refresh_token") == Some(&tokens.refresh),
        Some("client_credentials") => true,
        Some("authorization_code") => {
            // Single use, the same redirect URI, and the verifier of the challenge.
            let issued = form.get("code").and_then(|code| tokens.codes.remove(code));
            issued.is_some_and(|(redirect_uri, challenge, org)| {
                tokens.org = org;
                form.get("redirect_uri") == Some(&redirect_uri)
                    && form.get("code_verifier").is_some_and(|verifier| {
                        crate::grants::pkce_challenge(verifier) == challenge
                    })
            })
        }
        _ => false,
    };
    // RFC 6749 section 5.2: a client that does not authenticate is `invalid_client` (401); a
    // grant that is unknown, used, or not this client's is `invalid_grant`.
    if !ok {
        return (StatusCode::UNAUTHORIZED, Json(json!({"error": "invalid_client", "error_description": "client authentication failed"}))).into_response();
    }
    if !grant_ok {
        return (StatusCode::BAD_REQUEST, Json(json!({"error": "invalid_grant", "error_description": "the code or refresh token is invalid"}))).into_response();
    }
    tokens.generation += 1;
    let access = format!("rr_access_{}", tokens.generation);
    tokens.access = Some(access.clone());
    tokens.refresh = format!("rr_refresh_{}", tokens.generation);
    Json(json!({"access_token": access, "refresh_token": tokens.refresh, "token_type": "Bearer", "expires_in": 86400, "org_id": tokens.org})).into_response()
}

/// Rose Rocket's consent page: it checks the client and the PKCE parameters, issues codes
/// bound to the redirect URI and the challenge, and offers "Allow" (back with a code for the
/// organization `acme`), "Allow as Globex" (a code for `globex`, another tenant) and "Deny"
/// (back with `access_denied`).
async fn rose_authorize(
    State(sandbox): State<Arc<Sandbox>>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let get = |key: &str| query.get(key).cloned().unwrap_or_default();
    let redirect_uri = get("redirect_uri");
    let Ok(mut back) = reqwest::Url::parse(&redirect_uri) else {
        return (StatusCode::BAD_REQUEST, "redirect_uri is not a URL").into_response();
    };
    if get("client_id") != "rr_client"
        || get("response_type") != "code"
        || get("code_challenge_method") != "S256"
        || get("code_challenge").is_empty()
    {
        return (
            StatusCode::BAD_REQUEST,
            "unknown client, or no PKCE S256 challenge",
        )
            .into_response();
    }
    let back_as = |org: &'static str| {
        let code = format!("rr_code_{}", crate::crypto::new_id().unwrap_or_default());
        sandbox
            .rose_tokens
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .codes
            .insert(
                code.clone(),
                (redirect_uri.clone(), get("code_challenge"), org),
            );
        let mut url = back.clone();
        url.query_pairs_mut()
            .append_pair("code", &code)
            .append_pair("state", &get("state"));
        url
    };
    let other = back_as("globex");
    let mut deny = back.clone();
    back = back_as("acme");
    deny.query_pairs_mut()
        .append_pair("error", "access_denied")
        .append_pair("error_description", "The user declined.")
        .append_pair("state", &get("state"));
    let page = maud::html! {
        (maud::DOCTYPE)
        html lang="en" {
            head { meta charset="utf-8"; title { "Rose Rocket sandbox: authorize" } }
            body {
                h1 { "Allow specgate to use your Rose Rocket account?" }
                p { "Scopes: " (get("scope")) }
                a #allow href=(back.as_str()) { "Allow" }
                " "
                a #allow_other href=(other.as_str()) { "Allow as Globex" }
                " "
                a #deny href=(deny.as_str()) { "Deny" }
            }
        }
    };
    axum::response::Html(page.into_string()).into_response()
}

fn rose_record(key: &str, n: usize) -> Value {
    json!({"id": format!("00000000-0000-4000-8000-{n:012}"), "objectKey": key, "fullId": format!("{}-{n}", key.to_uppercase()), "externalId": format!("ERP-{n}"), "status": "new"})
}

async fn rose_search(Json(body): Json<Value>) -> Response {
    let Some(key) = body.get("objectKey").and_then(Value::as_str) else {
        return (StatusCode::BAD_REQUEST, Json(json!({"statusCode": 400, "message": ["objectKey must be a string"], "error": "Bad Request"}))).into_response();
    };
    let offset = body.get("offset").and_then(Value::as_u64).unwrap_or(0) as usize;
    let limit = body.get("limit").and_then(Value::as_u64).unwrap_or(50) as usize;
    let total = 5;
    let results: Vec<Value> = (1..=total)
        .map(|n| rose_record(key, n))
        .skip(offset)
        .take(limit)
        .collect();
    Json(json!({"total": total, "results": results})).into_response()
}

async fn rose_external(
    Path((key, external)): Path<(String, String)>,
    body: Option<Json<Value>>,
) -> Json<Value> {
    let mut record = rose_record(&key, 1);
    record["externalId"] = json!(external);
    if let Some(Json(Value::Object(changes))) = body
        && let Some(Value::Object(fields)) = changes.get("json")
        && let Value::Object(object) = &mut record
    {
        object.extend(fields.clone());
    }
    Json(record)
}

async fn rose_create(Json(body): Json<Value>) -> Response {
    let key = body
        .get("objectKey")
        .and_then(Value::as_str)
        .unwrap_or("customer");
    (StatusCode::CREATED, Json(rose_record(key, 9))).into_response()
}

async fn rose_object(Path(id): Path<String>) -> Json<Value> {
    let mut record = rose_record("customer", 1);
    record["id"] = json!(id);
    Json(record)
}

async fn rose_events(Query(query): Query<HashMap<String, String>>) -> Json<Value> {
    let offset: usize = query
        .get("offset")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let limit: usize = query
        .get("limit")
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    let total = 3;
    let results: Vec<Value> = (1..=total)
        .map(|n| json!({"id": format!("evt_{n}"), "eventType": "status_changed", "recordId": query.get("recordId")}))
        .skip(offset)
        .take(limit)
        .collect();
    Json(json!({"total": total, "results": results}))
}

async fn rose_user_groups() -> Json<Value> {
    Json(
        json!([{"id": "11111111-1111-4111-8111-111111111111", "name": "Dispatch", "type": "local", "description": "Dispatchers"}]),
    )
}

async fn rose_members(Path(id): Path<String>) -> Json<Value> {
    Json(
        json!({"members": [{"id": "22222222-2222-4222-8222-222222222222", "addedAt": "2026-11-01T10:00:00Z", "addedBy": id}]}),
    )
}

async fn rose_member_update(Json(body): Json<Value>) -> Json<Value> {
    let count = |k: &str| body.get(k).and_then(Value::as_array).map_or(0, Vec::len);
    Json(json!({"added": count("add"), "removed": count("remove")}))
}

async fn rose_boards() -> Json<Value> {
    Json(
        json!([{"id": "33333333-3333-4333-8333-333333333333", "name": "Orders", "icon": "box", "objectKey": "order", "isExternal": false}]),
    )
}
