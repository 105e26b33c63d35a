//! A model answering a prompt set: each prompt put in the instruction template (or given raw),
//! then generated from.

use std::ops::ControlFlow;

use crate::data::instruct::Template;
use crate::error::Result;
use crate::jobs::JobContext;
use crate::model::{Llama, SamplingConfig, TextTokenizer, generate};

use super::prompts::{Answer, EvalPrompt};

/// How prompts are put to the model.
#[derive(Debug, Clone)]
pub struct RespondOptions {
    /// The instruction template; `None` gives the instruction (and input) as plain text, for
    /// models that were never instruction-tuned.
    pub template: Option<Template>,
    pub sampling: SamplingConfig,
}

impl RespondOptions {
    /// The text the model continues for `prompt`.
    pub fn prompt_text(&self, prompt: &EvalPrompt) -> String {
        match &self.template {
            Some(t) => t.prompt(&t.alpaca_user(&prompt.instruction, &prompt.input)),
            None if prompt.input.trim().is_empty() => prompt.instruction.clone(),
            None => format!("{}\n{}", prompt.instruction, prompt.input),
        }
    }
}

/// Generates an answer to every prompt, in order.
pub fn respond(
    model: &Llama,
    tokenizer: &TextTokenizer,
    prompts: &[EvalPrompt],
    options: &RespondOptions,
    ctx: Option<&JobContext>,
) -> Result<Vec<Answer>> {
    let mut answers = Vec::with_capacity(prompts.len());
    let room = model
        .config
        .max_position_embeddings
        .saturating_sub(options.sampling.max_new_tokens)
        .max(2);
    for (i, prompt) in prompts.iter().enumerate() {
        if let Some(ctx) = ctx {
            ctx.check_cancelled()?;
        }
        let mut ids = tokenizer.encode_with_bos(&options.prompt_text(prompt))?;
        // A prompt too long for the context keeps its end, where the question is.
        if ids.len() > room {
            let keep_bos = usize::from(tokenizer.bos_id.is_some());
            ids.drain(keep_bos..ids.len() - (room - keep_bos));
        }
        let generation = generate(
            model,
            Some(tokenizer),
            &ids,
            &options.sampling,
            &tokenizer.eos_ids,
            |_| match ctx.is_some_and(JobContext::is_cancelled) {
                true => ControlFlow::Break(()),
                false => ControlFlow::Continue(()),
            },
        )?;
        answers.push(Answer {
            prompt: prompt.clone(),
            response: generation.text.trim().to_string(),
            new_tokens: generation.ids.len() - generation.prompt_len,
        });
        if let Some(ctx) = ctx {
            ctx.progress(
                "answering",
                (i + 1) as u64,
                Some(prompts.len() as u64),
                "prompts",
            );
        }
    }
    Ok(answers)
}
