//! `beyond study run|report|list`: the paper's questions as experiments that run themselves and
//! write a report.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use beyond::jobs::Job;
use beyond::study::{self, Layout, Verdict};

#[derive(Debug, Subcommand)]
pub enum StudyCommand {
    /// Run a study (a file, or the name of a shipped one): every stage not yet done, then the
    /// report. A killed study resumes where it stopped when run again.
    Run(RunArgs),
    /// Redraw a study's report from its results folder.
    Report(ReportArgs),
    /// The shipped studies.
    List(ListArgs),
}

impl StudyCommand {
    pub fn json(&self) -> bool {
        match self {
            StudyCommand::Run(a) => a.common.json,
            StudyCommand::Report(a) => a.json,
            StudyCommand::List(a) => a.json,
        }
    }
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// A study file, or a shipped study's name (`beyond study list`).
    #[arg(value_name = "FILE")]
    study: String,
    /// `quick` (minutes on a laptop CPU) or `standard` (a GPU, or an afternoon).
    #[arg(long, default_value = "quick")]
    scale: String,
    /// The workspace: results go to OUT/NAME/, stages to OUT/store/ (shared by studies).
    #[arg(long, value_name = "DIR", default_value = "studies")]
    out: PathBuf,
    #[command(flatten)]
    common: super::Common,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// A study's results folder (OUT/NAME).
    #[arg(value_name = "DIR")]
    dir: PathBuf,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[arg(long)]
    json: bool,
}

pub fn run(command: StudyCommand) -> anyhow::Result<()> {
    match command {
        StudyCommand::Run(a) => run_study(a),
        StudyCommand::Report(a) => {
            let summary = study::rerender(&a.dir)?;
            if a.json {
                return super::print_json(&summary);
            }
            print_summary(&summary);
            println!("report: {}", a.dir.join("report.html").display());
            Ok(())
        }
        StudyCommand::List(a) => {
            let mut rows = Vec::new();
            for (name, _) in study::SHIPPED {
                let s = study::open(name, "quick")?;
                let runs = s.settings().len() * s.grid.seeds.len();
                rows.push(serde_json::json!({
                    "name": name, "title": s.title, "runs_quick": runs,
                    "findings": s.findings.len(),
                }));
                if !a.json {
                    println!(
                        "{name:<16} {}  ({runs} runs at the quick scale, {} findings)",
                        s.title,
                        s.findings.len()
                    );
                }
            }
            if a.json {
                return super::print_json(&rows);
            }
            Ok(())
        }
    }
}

fn run_study(a: RunArgs) -> anyhow::Result<()> {
    // Everything that can be wrong with the study is said before anything runs.
    let s = study::open(&a.study, &a.scale)?;
    let (device, info) = a.common.device()?;
    let layout = Layout::new(&a.out);
    let device_name = info.summary();
    let job = Job::spawn("study", None, move |ctx| {
        study::run(&s, &layout, &device, &device_name, ctx)
    });
    super::render::cancel_on_ctrl_c(&job);
    let outcome = super::render::follow(job, a.common.json)?;
    if a.common.json {
        return super::print_json(&outcome);
    }
    print_summary(&outcome.summary);
    println!(
        "{} of {} stages run now; report: {}",
        outcome.stages_run,
        outcome.stages,
        outcome.results.join("report.html").display()
    );
    Ok(())
}

fn print_summary(summary: &study::Summary) {
    println!("{} ({} scale)", summary.title, summary.scale);
    for f in &summary.findings {
        let effect = match f.verdict {
            Verdict::NoData => "no data".to_string(),
            _ => format!(
                "{:+.4} [{:+.4}, {:+.4}]",
                f.effect.value, f.effect.low, f.effect.high
            ),
        };
        println!(
            "  {:<26} {:<12} {effect}  {}",
            f.finding.id,
            f.verdict.text(),
            f.finding.claim
        );
    }
}
