//! `beyond serve`: a model made here, behind an OpenAI-compatible HTTP API, so that other tools
//! (and this project's own judge client) can talk to it.
//!
//! `GET /v1/models`, `POST /v1/chat/completions` (whole answers, or streamed as server-sent
//! events), `GET /health`. Bad requests get 400 with an error object in OpenAI's shape. Each
//! request is handled on its own thread; the model thread answers them in arrival order.

pub mod chat;
mod worker;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use burn::prelude::*;
use serde_json::Value;
use tiny_http::{Header, Method, Request, Response, Server};

use crate::data::instruct::Template;
use crate::error::{Error, Result};
use chat::{Usage, chunk_body, completion_body, error_body, finish_reason, parse_request};
pub use worker::{DEFAULT_MAX_TOKENS, ModelCard};
use worker::{Work, WorkEvent};

/// Largest request body accepted.
const MAX_BODY: usize = 4 << 20;

/// How to serve.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub addr: SocketAddr,
    /// The name clients give as `model` (and `/v1/models` lists).
    pub model_name: String,
    /// How chat messages become the prompt.
    pub template: Template,
    /// Cut prompts too long for the context at the front instead of refusing them.
    pub truncate_prompts: bool,
}

/// A running server.
pub struct Serving {
    server: Arc<Server>,
    pub addr: SocketAddr,
    pub card: ModelCard,
    state: Arc<State>,
}

struct State {
    name: String,
    queue: Mutex<Sender<Work>>,
    next_id: AtomicU64,
    served: AtomicU64,
}

/// Loads the model and binds the address; call [`Serving::run`] to answer requests.
pub fn start(model_dir: PathBuf, device: Device, options: ServeOptions) -> Result<Serving> {
    let (queue, card) = worker::start(
        model_dir,
        device,
        options.template,
        options.truncate_prompts,
    )?;
    let server = Server::http(options.addr)
        .map_err(|e| Error::InvalidInput(format!("cannot listen on {}: {e}", options.addr)))?;
    let addr = server
        .server_addr()
        .to_ip()
        .ok_or_else(|| Error::InvalidInput("not an IP address".into()))?;
    Ok(Serving {
        server: Arc::new(server),
        addr,
        card,
        state: Arc::new(State {
            name: options.model_name,
            queue: Mutex::new(queue),
            next_id: AtomicU64::new(1),
            served: AtomicU64::new(0),
        }),
    })
}

impl Serving {
    /// Answers requests until the process ends.
    pub fn run(&self) {
        for request in self.server.incoming_requests() {
            let state = self.state.clone();
            let spawned = std::thread::Builder::new()
                .name("request".into())
                .spawn(move || handle(&state, request));
            if let Err(e) = spawned {
                log::error!("cannot start a thread for a request: {e}");
            }
        }
    }

    /// Requests answered so far.
    pub fn served(&self) -> u64 {
        self.state.served.load(Ordering::Relaxed)
    }
}

fn json_header() -> Header {
    Header::from_bytes("Content-Type", "application/json").expect("valid header")
}

fn send_json(request: Request, status: u16, body: &Value) {
    let response = Response::from_string(body.to_string())
        .with_status_code(status)
        .with_header(json_header());
    let _ = request.respond(response);
}

fn send_error(request: Request, status: u16, message: &str, param: Option<&str>) {
    let (kind, code) = match status {
        400 | 413 => ("invalid_request_error", None),
        404 => ("invalid_request_error", Some("not_found")),
        405 => ("invalid_request_error", Some("method_not_allowed")),
        _ => ("server_error", None),
    };
    send_json(request, status, &error_body(message, kind, param, code));
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn handle(state: &State, mut request: Request) {
    let path = request.url().split('?').next().unwrap_or("").to_string();
    match (request.method(), path.trim_end_matches('/')) {
        (Method::Get, "/health") => send_json(request, 200, &serde_json::json!({"status": "ok"})),
        (Method::Get, "/v1/models") => {
            let body = serde_json::json!({
                "object": "list",
                "data": [{"id": state.name, "object": "model", "created": 0, "owned_by": "beyond"}],
            });
            send_json(request, 200, &body);
        }
        (Method::Get, p) if p.strip_prefix("/v1/models/") == Some(state.name.as_str()) => {
            let body = serde_json::json!({"id": state.name, "object": "model", "created": 0, "owned_by": "beyond"});
            send_json(request, 200, &body);
        }
        (Method::Post, "/v1/chat/completions") => {
            let mut body = Vec::new();
            let read = request
                .as_reader()
                .take(MAX_BODY as u64 + 1)
                .read_to_end(&mut body);
            if read.is_err() {
                return send_error(request, 400, "the request body could not be read", None);
            }
            if body.len() > MAX_BODY {
                return send_error(request, 413, "the request body is too large", None);
            }
            chat_completion(state, request, &body);
        }
        (_, "/health" | "/v1/models" | "/v1/chat/completions") => {
            send_error(request, 405, "method not allowed here", None)
        }
        (_, p) => {
            let message = format!("no such endpoint: {p}");
            send_error(request, 404, &message, None)
        }
    }
}

fn chat_completion(state: &State, request: Request, body: &[u8]) {
    let chat = match parse_request(body) {
        Ok(c) => c,
        Err(e) => return send_error(request, 400, &e.message, e.param),
    };
    if let Some(model) = &chat.model
        && model != &state.name
    {
        let message = format!(
            "the model `{model}` is not served here; this server has `{}`",
            state.name
        );
        let body = error_body(
            &message,
            "invalid_request_error",
            Some("model"),
            Some("model_not_found"),
        );
        return send_json(request, 404, &body);
    }
    let (tx, rx) = channel();
    let work = Work {
        conversation: chat.conversation,
        sampling: chat.sampling,
        events: tx,
    };
    let queued = state
        .queue
        .lock()
        .map(|q| q.send(work).is_ok())
        .unwrap_or(false);
    if !queued {
        return send_error(request, 500, "the model has stopped", None);
    }
    // Whatever happens before generation starts is answered as a plain error.
    let prompt_tokens = match rx.recv() {
        Ok(WorkEvent::Started { prompt_tokens }) => prompt_tokens,
        Ok(WorkEvent::Refused(m)) => return send_error(request, 400, &m, Some("messages")),
        Ok(WorkEvent::Failed(m)) => return send_error(request, 500, &m, None),
        _ => return send_error(request, 500, "the model stopped answering", None),
    };
    let id = format!("chatcmpl-{}", state.next_id.fetch_add(1, Ordering::Relaxed));
    let created = now();
    let name = state.name.as_str();
    if !chat.stream {
        for event in rx {
            match event {
                WorkEvent::Done {
                    text,
                    completion_tokens,
                    stop,
                } => {
                    let usage = Usage {
                        prompt_tokens,
                        completion_tokens,
                        total_tokens: prompt_tokens + completion_tokens,
                    };
                    let body =
                        completion_body(&id, created, name, &text, finish_reason(stop), usage);
                    state.served.fetch_add(1, Ordering::Relaxed);
                    return send_json(request, 200, &body);
                }
                WorkEvent::Refused(m) => return send_error(request, 400, &m, None),
                WorkEvent::Failed(m) => return send_error(request, 500, &m, None),
                _ => {}
            }
        }
        return send_error(request, 500, "the model stopped answering", None);
    }
    // Streaming: server-sent events over chunked transfer, flushed as each token comes.
    let mut out = request.into_writer();
    let head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n\
                Transfer-Encoding: chunked\r\n\r\n";
    if out.write_all(head.as_bytes()).is_err() {
        return;
    }
    let mut send = |data: &Value| -> std::io::Result<()> {
        let event = format!("data: {data}\n\n");
        write!(out, "{:x}\r\n{event}\r\n", event.len())?;
        out.flush()
    };
    if send(&chunk_body(
        &id,
        created,
        name,
        serde_json::json!({"role": "assistant", "content": ""}),
        None,
        None,
    ))
    .is_err()
    {
        return;
    }
    for event in rx {
        let sent = match event {
            WorkEvent::Token(text) => send(&chunk_body(
                &id,
                created,
                name,
                serde_json::json!({"content": text}),
                None,
                None,
            )),
            WorkEvent::Done {
                completion_tokens,
                stop,
                ..
            } => {
                let mut r = send(&chunk_body(
                    &id,
                    created,
                    name,
                    serde_json::json!({}),
                    Some(finish_reason(stop)),
                    None,
                ));
                if chat.include_usage && r.is_ok() {
                    let usage = Usage {
                        prompt_tokens,
                        completion_tokens,
                        total_tokens: prompt_tokens + completion_tokens,
                    };
                    r = send(&chunk_body(
                        &id,
                        created,
                        name,
                        Value::Null,
                        None,
                        Some(usage),
                    ));
                }
                state.served.fetch_add(1, Ordering::Relaxed);
                r
            }
            // Headers are gone: an error can only be told inside the stream.
            WorkEvent::Refused(m) | WorkEvent::Failed(m) => {
                send(&error_body(&m, "server_error", None, None))
            }
            WorkEvent::Started { .. } => Ok(()),
        };
        if sent.is_err() {
            return;
        }
    }
    let _ = send_done(&mut out);
}

fn send_done(out: &mut dyn Write) -> std::io::Result<()> {
    let event = "data: [DONE]\n\n";
    write!(out, "{:x}\r\n{event}\r\n0\r\n\r\n", event.len())?;
    out.flush()
}
