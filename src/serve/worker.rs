//! The thread that owns the model: requests queue up and are answered one after another.

use std::ops::ControlFlow;
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, Sender, channel};

use burn::prelude::*;

use crate::data::instruct::{Conversation, Template};
use crate::error::{Error, Result};
use crate::model::{LoadedModel, SamplingConfig, StopReason};

/// Most tokens an answer gets when the request does not say.
pub const DEFAULT_MAX_TOKENS: usize = 512;

/// A request for the model.
pub struct Work {
    pub conversation: Conversation,
    pub sampling: SamplingConfig,
    pub events: Sender<WorkEvent>,
}

/// What the model thread says about a request, in order: `Started`, `Token`s, then `Done`, or
/// one of the refusals.
#[derive(Debug, Clone)]
pub enum WorkEvent {
    Started {
        prompt_tokens: usize,
    },
    Token(String),
    Done {
        text: String,
        completion_tokens: usize,
        stop: StopReason,
    },
    /// The request cannot be served as asked (HTTP 400).
    Refused(String),
    /// The model failed (HTTP 500).
    Failed(String),
}

/// What is known of the served model.
#[derive(Debug, Clone)]
pub struct ModelCard {
    pub context: usize,
    pub vocab_size: usize,
    pub parameters: usize,
}

/// Starts the model thread; returns once the model is loaded (or could not be).
pub fn start(
    dir: PathBuf,
    device: Device,
    template: Template,
    truncate: bool,
) -> Result<(Sender<Work>, ModelCard)> {
    let (work_tx, work_rx) = channel::<Work>();
    let (ready_tx, ready_rx) = channel();
    std::thread::Builder::new()
        .name("model".into())
        .spawn(move || {
            let loaded = match LoadedModel::open(&dir, &device).and_then(|l| {
                l.require_tokenizer()?;
                Ok(l)
            }) {
                Ok(l) => l,
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                    return;
                }
            };
            let card = ModelCard {
                context: loaded.model.config.max_position_embeddings,
                vocab_size: loaded.model.config.vocab_size,
                parameters: loaded.model.config.num_params(),
            };
            let _ = ready_tx.send(Ok(card));
            serve_queue(&loaded, &template, truncate, work_rx);
        })
        .map_err(|e| Error::Device(format!("starting the model thread: {e}")))?;
    let card = ready_rx
        .recv()
        .map_err(|_| Error::Device("the model thread stopped while loading".into()))??;
    Ok((work_tx, card))
}

fn serve_queue(loaded: &LoadedModel, template: &Template, truncate: bool, queue: Receiver<Work>) {
    let tokenizer = loaded.tokenizer.as_ref().expect("checked when loading");
    let context = loaded.model.config.max_position_embeddings;
    for work in queue {
        let events = work.events;
        let (text, _) = template.render(&work.conversation);
        let ids = match tokenizer.encode_with_bos(&text) {
            Ok(ids) => ids,
            Err(e) => {
                let _ = events.send(WorkEvent::Failed(e.to_string()));
                continue;
            }
        };
        let wanted = match work.sampling.max_new_tokens {
            usize::MAX => DEFAULT_MAX_TOKENS,
            n => n,
        };
        let mut ids = ids;
        if truncate && ids.len() + wanted > context {
            // Keep the prompt's end (where the question is) and room for half the context.
            let room = wanted.min(context / 2);
            let keep_bos = usize::from(tokenizer.bos_id.is_some());
            let keep = context.saturating_sub(room).max(keep_bos + 1);
            if ids.len() > keep {
                ids.drain(keep_bos..ids.len() - (keep - keep_bos));
            }
        }
        if ids.len() >= context {
            let _ = events.send(WorkEvent::Refused(format!(
                "the prompt is {} tokens; this model's context is {context}",
                ids.len()
            )));
            continue;
        }
        let room = context - ids.len();
        let mut sampling = work.sampling;
        sampling.max_new_tokens =
            sampling
                .max_new_tokens
                .min(room)
                .min(match sampling.max_new_tokens {
                    usize::MAX => DEFAULT_MAX_TOKENS,
                    n => n,
                });
        if events
            .send(WorkEvent::Started {
                prompt_tokens: ids.len(),
            })
            .is_err()
        {
            continue;
        }
        let result = loaded.continue_ids(&ids, &sampling, |step| {
            if step.text.is_empty() {
                return ControlFlow::Continue(());
            }
            // A client that went away stops its generation.
            match events.send(WorkEvent::Token(step.text.clone())) {
                Ok(()) => ControlFlow::Continue(()),
                Err(_) => ControlFlow::Break(()),
            }
        });
        let _ = events.send(match result {
            Ok(g) => WorkEvent::Done {
                completion_tokens: g.ids.len() - g.prompt_len,
                text: g.text,
                stop: g.stop_reason,
            },
            Err(Error::InvalidInput(m)) => WorkEvent::Refused(m),
            Err(e) => WorkEvent::Failed(e.to_string()),
        });
    }
}
