//! `beyond serve` over real HTTP: the chat-completions shape, streaming, refusals, 200 requests at
//! once, the `openai` Python package as a client, and the judge client against it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use beyond::eval::judge::{Judge, JudgeConfig, JudgeError, Secret};
use serde_json::{Value, json};

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny-llama-a")
}

/// A server on a free port, stopped when dropped.
struct Server {
    child: Child,
    url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve() -> Server {
    serve_with(&[])
}

fn serve_with(extra: &[&str]) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_beyond"))
        .args([
            "serve", "--device", "cpu", "--port", "0", "--name", "tiny", "--json",
        ])
        .args(extra)
        .arg("--model")
        .arg(fixture())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("beyond runs");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let info: Value = serde_json::from_str(&line).unwrap_or_else(|_| panic!("first line: {line}"));
    Server {
        child,
        url: info["url"].as_str().unwrap().to_string(),
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(120)))
        .build()
        .into()
}

fn post(url: &str, body: &Value) -> (u16, Value) {
    let mut r = agent()
        .post(format!("{url}/chat/completions"))
        .header("Content-Type", "application/json")
        .send(body.to_string())
        .unwrap();
    let status = r.status().as_u16();
    let text = r.body_mut().read_to_string().unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("{text}")),
    )
}

fn ask(max_tokens: usize) -> Value {
    json!({
        "model": "tiny",
        "messages": [{"role": "system", "content": "Answer briefly."},
                     {"role": "user", "content": "Where is the capital of France?"}],
        "max_tokens": max_tokens,
        "temperature": 0,
    })
}

#[test]
fn chat_completions_whole_streamed_and_refused() {
    let server = serve();
    let url = &server.url;

    let mut r = agent().get(format!("{url}/models")).call().unwrap();
    let models: Value = serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
    assert_eq!(models["object"], "list");
    assert_eq!(models["data"][0]["id"], "tiny");

    let (status, whole) = post(url, &ask(8));
    assert_eq!(status, 200, "{whole}");
    assert_eq!(whole["object"], "chat.completion");
    assert_eq!(whole["choices"][0]["message"]["role"], "assistant");
    let text = whole["choices"][0]["message"]["content"].as_str().unwrap();
    let usage = &whole["usage"];
    assert!(usage["prompt_tokens"].as_u64().unwrap() > 10);
    let completion = usage["completion_tokens"].as_u64().unwrap();
    assert!((1..=8).contains(&completion));
    assert_eq!(
        usage["total_tokens"].as_u64().unwrap(),
        usage["prompt_tokens"].as_u64().unwrap() + completion
    );
    let finish = whole["choices"][0]["finish_reason"].as_str().unwrap();
    assert!(finish == "length" || finish == "stop");

    // Streamed over a raw socket: chunked server-sent events whose pieces make the same text.
    let mut body = ask(8);
    body["stream"] = json!(true);
    body["stream_options"] = json!({"include_usage": true});
    let body = body.to_string();
    let host = url.trim_start_matches("http://").trim_end_matches("/v1");
    let mut socket = TcpStream::connect(host).unwrap();
    write!(
        socket,
        "POST /v1/chat/completions HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut raw = String::new();
    socket.read_to_string(&mut raw).unwrap();
    let (head, rest) = raw.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.to_lowercase().contains("text/event-stream"), "{head}");
    assert!(head.to_lowercase().contains("transfer-encoding: chunked"));
    let events = dechunk(rest);
    let data: Vec<&str> = events
        .split("\n\n")
        .filter_map(|e| e.strip_prefix("data: "))
        .collect();
    assert_eq!(data.last(), Some(&"[DONE]"));
    let chunks: Vec<Value> = data[..data.len() - 1]
        .iter()
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let streamed: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(streamed, text, "streamed and whole answers differ");
    assert!(
        chunks
            .iter()
            .all(|c| c["object"] == "chat.completion.chunk")
    );
    assert_eq!(
        chunks.last().unwrap()["usage"]["completion_tokens"].as_u64(),
        Some(completion)
    );

    // Malformed requests: 400 and an error object.
    for bad in [
        json!({"model": "tiny"}),
        json!({"messages": "hello"}),
        json!({"messages": [{"role": "user", "content": "x"}], "temperature": "hot"}),
        json!({"messages": [{"role": "user", "content": "x"}], "n": 3}),
        json!({"messages": [{"role": "wizard", "content": "x"}]}),
    ] {
        let (status, e) = post(url, &bad);
        assert_eq!(status, 400, "{bad}: {e}");
        assert_eq!(e["error"]["type"], "invalid_request_error");
        assert!(!e["error"]["message"].as_str().unwrap().is_empty());
    }
    let mut r = agent()
        .post(format!("{url}/chat/completions"))
        .send("{not json")
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let e: Value = serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
    assert!(e["error"]["message"].as_str().unwrap().contains("JSON"));
    let (status, e) = post(
        url,
        &json!({"model": "gpt-9", "messages": [{"role": "user", "content": "x"}]}),
    );
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (404, Some("model_not_found"))
    );
}

/// Undoes chunked transfer coding.
fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    loop {
        let (size, rest) = body.split_once("\r\n").expect("chunk size line");
        let size = usize::from_str_radix(size.trim(), 16).expect("hex chunk size");
        if size == 0 {
            return out;
        }
        out.push_str(&rest[..size]);
        body = &rest[size + 2..];
    }
}

#[test]
fn two_hundred_requests_at_once_are_all_answered() {
    let server = serve();
    let url = server.url.clone();
    let handles: Vec<_> = (0..200)
        .map(|i| {
            let url = url.clone();
            std::thread::spawn(move || {
                let mut body = ask(2);
                body["messages"][1]["content"] = json!(format!("Question number {i}?"));
                body["stream"] = json!(i % 4 == 0);
                let mut r = agent()
                    .post(format!("{url}/chat/completions"))
                    .send(body.to_string())
                    .unwrap();
                (r.status().as_u16(), r.body_mut().read_to_string().unwrap())
            })
        })
        .collect();
    let mut ids = Vec::new();
    for h in handles {
        let (status, text) = h.join().unwrap();
        assert_eq!(status, 200, "{text}");
        if text.starts_with("data: ") {
            assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");
            let first: Value =
                serde_json::from_str(text.lines().next().unwrap().strip_prefix("data: ").unwrap())
                    .unwrap();
            ids.push(first["id"].as_str().unwrap().to_string());
        } else {
            let v: Value = serde_json::from_str(&text).unwrap();
            assert!(v["choices"][0]["message"]["content"].is_string());
            ids.push(v["id"].as_str().unwrap().to_string());
        }
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 200, "every request got its own answer");
}

#[test]
fn the_openai_python_package_talks_to_it() {
    let python = std::env::var("BEYOND_PYTHON").unwrap_or_else(|_| "python3".into());
    let importable = Command::new(&python)
        .args(["-c", "import openai"])
        .status()
        .is_ok_and(|s| s.success());
    if !importable {
        assert!(
            std::env::var_os("BEYOND_REQUIRE_OPENAI").is_none(),
            "BEYOND_REQUIRE_OPENAI is set but `{python}` cannot import openai"
        );
        eprintln!("the openai package is not importable by `{python}`: not tested");
        return;
    }
    let server = serve();
    let script = r#"
import sys, openai
client = openai.OpenAI(base_url=sys.argv[1], api_key="unused")
assert [m.id for m in client.models.list()] == ["tiny"]
messages = [{"role": "user", "content": "Say something."}]
whole = client.chat.completions.create(model="tiny", messages=messages, max_tokens=6, temperature=0)
text = whole.choices[0].message.content
assert whole.usage.completion_tokens >= 1
parts = []
for chunk in client.chat.completions.create(model="tiny", messages=messages, max_tokens=6, temperature=0, stream=True):
    if chunk.choices and chunk.choices[0].delta.content:
        parts.append(chunk.choices[0].delta.content)
assert "".join(parts) == text, ("".join(parts), text)
try:
    client.chat.completions.create(model="tiny", messages=[], max_tokens=2)
    raise SystemExit("an empty message list was accepted")
except openai.BadRequestError as e:
    assert e.status_code == 400
print("ok")
"#;
    let out = Command::new(&python)
        .args(["-c", script, &server.url])
        .output()
        .unwrap();
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("ok"),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn judge(url: &str, model: &str, timeout: Duration) -> Judge {
    Judge::new(JudgeConfig {
        url: url.to_string(),
        model: model.to_string(),
        key: Some(Secret::new("not-a-real-key")),
        timeout,
        attempts: 2,
    })
}

#[test]
fn the_judge_client_fails_clearly() {
    // The fixture's context (256) is shorter than the rubric: the server keeps the prompt's end.
    let server = serve_with(&["--truncate-prompts"]);
    // The served model answers, but not with scores: counted as unparseable, not as a score.
    let j = judge(&server.url, "tiny", Duration::from_secs(60));
    match j.score("What is 2 + 2?", "4", "4") {
        Err(JudgeError::Unparseable(reply)) => assert!(!reply.contains("not-a-real-key")),
        other => panic!("expected unparseable scores, got {other:?}"),
    }
    // A model the server does not have: refused, with the server's message.
    match judge(&server.url, "gpt-9", Duration::from_secs(60)).ask("s", "u") {
        Err(JudgeError::Refused { status, message }) => {
            assert_eq!(status, 404);
            assert!(message.contains("gpt-9"), "{message}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    // A server that never answers: a timeout, in about the time asked.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = silent.local_addr().unwrap();
    let started = std::time::Instant::now();
    let e = judge(
        &format!("http://{addr}/v1"),
        "m",
        Duration::from_millis(700),
    )
    .ask("s", "u")
    .unwrap_err();
    assert!(matches!(e, JudgeError::Timeout(_)), "{e:?}");
    assert!(started.elapsed() < Duration::from_secs(10));
    drop(silent);
    // Nothing listening: unreachable, naming the address.
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let e = judge(&format!("http://{closed}/v1"), "m", Duration::from_secs(5))
        .ask("s", "u")
        .unwrap_err();
    assert!(matches!(e, JudgeError::Unreachable { .. }), "{e:?}");
    assert!(e.to_string().contains(&closed.to_string()), "{e}");
}

#[test]
fn quality_runs_end_to_end_with_the_served_model_as_judge() {
    let server = serve_with(&["--truncate-prompts"]);
    let dir = tempfile::tempdir().unwrap();
    let prompts = dir.path().join("prompts.jsonl");
    std::fs::write(
        &prompts,
        "{\"id\":\"a\",\"category\":\"geography\",\"instruction\":\"法国的首都是哪里？\",\"reference\":\"巴黎\"}\n\
         {\"id\":\"b\",\"category\":\"math\",\"instruction\":\"What is 2 + 2?\",\"reference\":\"4\"}\n",
    )
    .unwrap();
    let ratings = dir.path().join("ratings.jsonl");
    std::fs::write(
        &ratings,
        "{\"id\":\"a\",\"rater\":\"r1\",\"accuracy\":0,\"fluency\":1,\"informativeness\":0,\"logicality\":1,\"harmlessness\":3}\n\
         {\"id\":\"a\",\"rater\":\"r2\",\"accuracy\":1,\"fluency\":2,\"informativeness\":0,\"logicality\":1,\"harmlessness\":3}\n",
    )
    .unwrap();
    let answers = dir.path().join("answers.jsonl");
    let out = Command::new(env!("CARGO_BIN_EXE_beyond"))
        .args([
            "eval",
            "quality",
            "--device",
            "cpu",
            "--json",
            "--items",
            "--language",
            "zh",
        ])
        .arg("--model")
        .arg(fixture())
        .arg("--prompts")
        .arg(&prompts)
        .args([
            "--max-new-tokens",
            "6",
            "--judge-model",
            "tiny",
            "--judge-attempts",
            "1",
        ])
        .args(["--judge-url", &server.url])
        .arg("--ratings")
        .arg(&ratings)
        .arg("--save-answers")
        .arg(&answers)
        .arg("--reference-model")
        .arg(fixture())
        .env("BEYOND_JUDGE_KEY", "sk-should-not-appear")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(!stdout.contains("sk-should-not-appear") && !stderr.contains("sk-should-not-appear"));
    let report: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["answers"], 2);
    // The tiny model is no judge: both answers unscored, and said so.
    assert_eq!(report["judge_failures"]["unparseable"], 2, "{report}");
    assert!(report["judge"].is_null());
    // People rated answer a: the mean of two raters.
    assert_eq!(report["human"]["scored"], 1);
    assert_eq!(report["items"][0]["raters"], 2);
    assert_eq!(report["items"][0]["human"]["accuracy"], 0.5);
    // Two raters of answer a: accuracy differs by 1, harmlessness agrees.
    let agreement = report["rater_agreement"].as_array().unwrap();
    assert_eq!(agreement[0]["aspect"], "accuracy");
    assert_eq!(agreement[0]["exact"], 0.0);
    assert_eq!(agreement[4]["exact"], 1.0);
    let ppl = report["mean_reference_perplexity"].as_f64().unwrap();
    assert!(ppl > 1.0 && ppl.is_finite());
    assert_eq!(report["categories"].as_array().unwrap().len(), 2);
    assert!(std::fs::read_to_string(&answers).unwrap().lines().count() == 2);
    let saved = std::fs::read_to_string(&answers).unwrap();
    assert!(!saved.contains("sk-should-not-appear"));
}
