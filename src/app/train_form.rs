//! The Train page's settings form: every field of a run manifest, edited in place. The form
//! edits a [`RunConfig`] as written (relative paths kept); saving writes the TOML and reads it
//! back the way a run does, so what the form accepts is what `beyond train` accepts.

use eframe::egui::{self, DragValue, RichText};

use crate::data::{CorpusSpec, FormatName, OnBadLine};
use crate::train::{Decay, LoraConfig, ModelSource, OptimizerKind, RunConfig, Stage, Trainable};

use super::files::{PathKind, path_field};

use crate::model::LlamaConfig;

/// Draws the form; returns true when a field changed.
pub fn form(ui: &mut egui::Ui, c: &mut RunConfig) -> bool {
    let before = c.clone();
    egui::Grid::new("run-general")
        .num_columns(2)
        .spacing([12.0, 6.0])
        .show(ui, |ui| {
            ui.label("stage");
            ui.horizontal(|ui| {
                ui.radio_value(&mut c.stage, Stage::Pretrain, "pretrain (plain text)");
                ui.radio_value(&mut c.stage, Stage::Sft, "sft (instructions)");
            });
            ui.end_row();
            ui.label("run directory");
            path_text(ui, "run directory", &mut c.output, PathKind::Folder);
            ui.end_row();
            ui.label("seed");
            ui.add(DragValue::new(&mut c.seed)).accessible_name("seed");
            ui.end_row();
        });
    ui.add_space(4.0);
    model_section(ui, &mut c.model);
    ui.add_space(4.0);
    data_section(ui, c);
    ui.add_space(4.0);
    optimiser_section(ui, c);
    ui.add_space(4.0);
    egui::CollapsingHeader::new("Checkpoints and held-out loss")
        .default_open(false)
        .show(ui, |ui| {
            egui::Grid::new("run-checkpoints")
                .num_columns(2)
                .show(ui, |ui| {
                    ui.label("checkpoint every (steps, 0: at the end)");
                    ui.add(DragValue::new(&mut c.checkpoint.every))
                        .accessible_name("checkpoint every (steps, 0: at the end)");
                    ui.end_row();
                    ui.label("checkpoints kept");
                    ui.add(DragValue::new(&mut c.checkpoint.keep).range(1..=100))
                        .accessible_name("checkpoints kept");
                    ui.end_row();
                    ui.label("held-out loss every (steps, 0: never)");
                    ui.add(DragValue::new(&mut c.eval.every))
                        .accessible_name("held-out loss every (steps, 0: never)");
                    ui.end_row();
                    ui.label("held-out sequences");
                    ui.add(DragValue::new(&mut c.eval.sequences).range(1..=4096))
                        .accessible_name("held-out sequences");
                    ui.end_row();
                });
        });
    *c != before
}

fn path_text(ui: &mut egui::Ui, name: &str, path: &mut std::path::PathBuf, kind: PathKind) {
    let mut text = path.display().to_string();
    if path_field(ui, name, &mut text, kind, 320.0) {
        *path = text.into();
    }
}

fn model_section(ui: &mut egui::Ui, m: &mut ModelSource) {
    egui::CollapsingHeader::new("Model")
        .default_open(true)
        .show(ui, |ui| {
            let mut fresh = m.base.is_none();
            ui.horizontal(|ui| {
                ui.radio_value(&mut fresh, false, "continue from an HF model directory");
                ui.radio_value(&mut fresh, true, "a fresh model");
            });
            if fresh && m.base.is_some() {
                m.base = None;
                m.preset.get_or_insert_with(|| "nano".into());
            } else if !fresh && m.base.is_none() {
                m.base = Some(Default::default());
                m.preset = None;
                m.config = None;
            }
            egui::Grid::new("run-model").num_columns(2).show(ui, |ui| {
                if let Some(base) = &mut m.base {
                    ui.label("base model");
                    path_text(ui, "base model", base, PathKind::Folder);
                    ui.end_row();
                } else {
                    ui.label("shape");
                    let shown = m.preset.clone().unwrap_or_else(|| "config.json".into());
                    egui::ComboBox::from_id_salt("run-preset")
                        .selected_text(shown)
                        .show_ui(ui, |ui| {
                            for p in LlamaConfig::PRESETS {
                                if ui
                                    .selectable_label(m.preset.as_deref() == Some(p), p)
                                    .clicked()
                                {
                                    m.preset = Some(p.into());
                                    m.config = None;
                                }
                            }
                        })
                        .response
                        .accessible_name("model shape");
                    ui.end_row();
                    if let Some(config) = &mut m.config {
                        ui.label("model config");
                        path_text(ui, "model config", config, PathKind::Json);
                        ui.end_row();
                    }
                    ui.label("tokenizer");
                    let tokenizer = m.tokenizer.get_or_insert_with(Default::default);
                    path_text(ui, "tokenizer", tokenizer, PathKind::Json);
                    ui.end_row();
                    ui.label("initial weights' std");
                    ui.add(
                        DragValue::new(&mut m.init_std)
                            .speed(0.001)
                            .range(0.0..=1.0),
                    )
                    .accessible_name("initial weights' std");
                    ui.end_row();
                }
            });
        });
}

fn data_section(ui: &mut egui::Ui, c: &mut RunConfig) {
    egui::CollapsingHeader::new("Data and budget")
        .default_open(true)
        .show(ui, |ui| {
            let d = &mut c.data;
            egui::Grid::new("run-data").num_columns(4).show(ui, |ui| {
                ui.label("sequence length");
                ui.add(DragValue::new(&mut d.seq_len).range(2..=65536))
                    .accessible_name("sequence length");
                ui.label("sequences per batch");
                ui.add(DragValue::new(&mut d.batch_size).range(1..=4096))
                    .accessible_name("sequences per batch");
                ui.end_row();
                ui.label("batches per step");
                ui.add(DragValue::new(&mut d.grad_accum).range(1..=1024))
                    .accessible_name("batches per step");
                ui.label("hold out one document in");
                ui.add(DragValue::new(&mut d.heldout_every))
                    .accessible_name("hold out one document in");
                ui.end_row();
                ui.label("a bad JSON line");
                ui.horizontal(|ui| {
                    ui.radio_value(&mut d.on_bad_line, OnBadLine::Skip, "skip");
                    ui.radio_value(&mut d.on_bad_line, OnBadLine::Stop, "stop");
                });
                ui.end_row();
            });
            ui.label(
                RichText::new(
                    "Mixture: each corpus's share of the tokens is its weight over the sum.",
                )
                .weak(),
            );
            mixture(ui, &mut d.corpora);
            ui.horizontal(|ui| {
                let mut by_examples = c.budget.examples.is_some();
                ui.label("budget");
                ui.radio_value(&mut by_examples, false, "tokens");
                if c.stage == Stage::Sft {
                    ui.radio_value(&mut by_examples, true, "examples");
                }
                if by_examples {
                    let n = c.budget.examples.get_or_insert(100);
                    ui.add(DragValue::new(n).range(1..=u64::MAX))
                        .accessible_name("budget");
                } else {
                    c.budget.examples = None;
                    ui.add(
                        DragValue::new(&mut c.budget.tokens)
                            .speed(1024.0)
                            .range(0..=u64::MAX),
                    )
                    .accessible_name("token budget");
                }
                let steps = c.total_steps();
                ui.label(
                    RichText::new(format!(
                        "= {steps} optimiser steps of {} sequences",
                        c.sequences_per_step()
                    ))
                    .weak(),
                );
            });
        });
}

fn mixture(ui: &mut egui::Ui, corpora: &mut Vec<CorpusSpec>) {
    let total: f64 = corpora.iter().map(|c| c.weight.max(0.0)).sum();
    let mut remove = None;
    egui::Grid::new("run-mixture")
        .num_columns(6)
        .striped(true)
        .show(ui, |ui| {
            for h in ["name", "file", "format", "weight", "share", ""] {
                ui.label(RichText::new(h).strong());
            }
            ui.end_row();
            for (i, corpus) in corpora.iter_mut().enumerate() {
                ui.add(egui::TextEdit::singleline(&mut corpus.name).desired_width(60.0))
                    .accessible_name(format!("corpus {} name", i + 1));
                path_text(
                    ui,
                    &format!("corpus {}", i + 1),
                    &mut corpus.path,
                    PathKind::Text,
                );
                let format = corpus.format.map_or("by extension", |f| match f {
                    FormatName::Lines => "lines",
                    FormatName::Paragraphs => "paragraphs",
                    FormatName::Jsonl => "jsonl",
                });
                egui::ComboBox::from_id_salt(("corpus-format", i))
                    .selected_text(format)
                    .show_ui(ui, |ui| {
                        ui.selectable_value(&mut corpus.format, None, "by extension");
                        ui.selectable_value(&mut corpus.format, Some(FormatName::Lines), "lines");
                        ui.selectable_value(
                            &mut corpus.format,
                            Some(FormatName::Paragraphs),
                            "paragraphs",
                        );
                        ui.selectable_value(&mut corpus.format, Some(FormatName::Jsonl), "jsonl");
                    })
                    .response
                    .accessible_name(format!("corpus {} format", i + 1));
                ui.add(
                    DragValue::new(&mut corpus.weight)
                        .speed(0.01)
                        .range(0.0..=1000.0),
                )
                .accessible_name(format!("corpus {} weight", i + 1));
                let share = if total > 0.0 {
                    corpus.weight.max(0.0) / total
                } else {
                    0.0
                };
                ui.label(format!("{:.0}%", share * 100.0));
                if ui.small_button("remove").clicked() {
                    remove = Some(i);
                }
                ui.end_row();
            }
        });
    if let Some(i) = remove {
        corpora.remove(i);
    }
    if ui.button("Add a corpus").clicked() {
        corpora.push(CorpusSpec {
            name: format!("corpus-{}", corpora.len() + 1),
            path: Default::default(),
            weight: 1.0,
            format: None,
            field: None,
        });
    }
}

fn optimiser_section(ui: &mut egui::Ui, c: &mut RunConfig) {
    egui::CollapsingHeader::new("Optimiser and schedule")
        .default_open(true)
        .show(ui, |ui| {
            let o = &mut c.optimizer;
            let s = &mut c.schedule;
            egui::Grid::new("run-optimiser")
                .num_columns(4)
                .show(ui, |ui| {
                    ui.label("rule");
                    ui.horizontal(|ui| {
                        ui.radio_value(&mut o.kind, OptimizerKind::AdamW, "AdamW");
                        ui.radio_value(&mut o.kind, OptimizerKind::Sgd, "SGD");
                    });
                    ui.label("peak learning rate");
                    ui.add(
                        DragValue::new(&mut s.lr)
                            .speed(1e-5)
                            .range(1e-8..=10.0)
                            .max_decimals(8),
                    )
                    .accessible_name("peak learning rate");
                    ui.end_row();
                    ui.label("warmup steps");
                    ui.add(DragValue::new(&mut s.warmup_steps))
                        .accessible_name("warmup steps");
                    ui.label("decay");
                    ui.horizontal(|ui| {
                        ui.radio_value(&mut s.decay, Decay::Cosine, "cosine");
                        ui.radio_value(&mut s.decay, Decay::Linear, "linear");
                        ui.radio_value(&mut s.decay, Decay::Constant, "constant");
                    });
                    ui.end_row();
                    ui.label("floor (x peak)");
                    ui.add(
                        DragValue::new(&mut s.min_lr_ratio)
                            .speed(0.01)
                            .range(0.0..=1.0),
                    )
                    .accessible_name("floor (x peak)");
                    ui.label("weight decay");
                    ui.add(
                        DragValue::new(&mut o.weight_decay)
                            .speed(0.01)
                            .range(0.0..=10.0),
                    )
                    .accessible_name("weight decay");
                    ui.end_row();
                    if o.kind == OptimizerKind::AdamW {
                        ui.label("beta1 / beta2");
                        ui.horizontal(|ui| {
                            ui.add(
                                DragValue::new(&mut o.beta1)
                                    .speed(0.001)
                                    .range(0.0..=0.99999),
                            )
                            .accessible_name("beta1 / beta2");
                            ui.add(
                                DragValue::new(&mut o.beta2)
                                    .speed(0.001)
                                    .range(0.0..=0.99999),
                            )
                            .accessible_name("beta1 / beta2");
                        });
                        ui.label("epsilon");
                        ui.add(
                            DragValue::new(&mut o.eps)
                                .speed(1e-9)
                                .range(0.0..=1.0)
                                .max_decimals(10),
                        )
                        .accessible_name("epsilon");
                        ui.end_row();
                    }
                    ui.label("clip gradient norm");
                    ui.horizontal(|ui| {
                        let mut clip = o.clip_norm.is_some();
                        ui.checkbox(&mut clip, "")
                            .accessible_name("clip gradient norm");
                        match (clip, &mut o.clip_norm) {
                            (true, Some(v)) => {
                                ui.add(DragValue::new(v).speed(0.05).range(1e-6..=1e6))
                                    .accessible_name("clip gradient norm");
                            }
                            (true, None) => o.clip_norm = Some(1.0),
                            (false, _) => o.clip_norm = None,
                        }
                    });
                    ui.label("decay norms and embeddings");
                    ui.checkbox(&mut o.decay_norms_and_embeddings, "")
                        .accessible_name("decay norms and embeddings");
                    ui.end_row();
                });
            ui.horizontal(|ui| {
                ui.label("what trains");
                let mut lora = o.lora.is_some();
                if ui
                    .radio(!lora && o.trainable == Trainable::All, "every weight")
                    .clicked()
                {
                    lora = false;
                    o.trainable = Trainable::All;
                }
                if ui
                    .radio(
                        !lora && o.trainable == Trainable::EmbeddingsAndHead,
                        "embeddings and head",
                    )
                    .clicked()
                {
                    lora = false;
                    o.trainable = Trainable::EmbeddingsAndHead;
                }
                if ui.radio(lora, "LoRA adapters").clicked() {
                    lora = true;
                    o.trainable = Trainable::All;
                }
                match (lora, &mut o.lora) {
                    (true, None) => o.lora = Some(LoraConfig::default()),
                    (false, Some(_)) => o.lora = None,
                    _ => {}
                }
            });
            if let Some(l) = &mut o.lora {
                ui.horizontal(|ui| {
                    ui.label("rank");
                    ui.add(DragValue::new(&mut l.rank).range(1..=1024))
                        .accessible_name("rank");
                    ui.label("alpha");
                    ui.add(DragValue::new(&mut l.alpha).speed(0.5).range(0.0..=4096.0))
                        .accessible_name("alpha");
                    ui.checkbox(&mut l.train_embeddings, "also train embeddings and head");
                });
                ui.label(RichText::new(format!("on {}", l.targets.join(", "))).weak());
            }
        });
}
