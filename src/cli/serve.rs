//! `beyond serve`: a model behind an OpenAI-compatible API on this machine.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use clap::Args;

use super::ModelArg;
use beyond::data::instruct::Template;
use beyond::serve::{ServeOptions, start};

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub model: ModelArg,
    /// Port to listen on (0 picks a free one and prints it).
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// Address to listen on; the default answers this machine only.
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    pub host: IpAddr,
    /// The model's name in the API (default: the directory's name).
    #[arg(long)]
    pub name: Option<String>,
    /// How chat messages become the prompt: a template TOML (default: Alpaca's).
    #[arg(long, value_name = "FILE")]
    pub template: Option<std::path::PathBuf>,
    /// Keep the end of prompts too long for the model's context instead of refusing them
    /// (for small models asked long questions, such as a judge's rubric).
    #[arg(long)]
    pub truncate_prompts: bool,
    #[command(flatten)]
    pub common: super::Common,
}

pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    let (device, _) = args.common.device()?;
    let template = match &args.template {
        Some(path) => Template::from_toml_file(path)?,
        None => Template::default(),
    };
    let dir = args.model.model.clone();
    let name = args.name.clone().unwrap_or_else(|| {
        dir.canonicalize()
            .ok()
            .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "model".into())
    });
    let serving = start(
        dir,
        device,
        ServeOptions {
            addr: SocketAddr::new(args.host, args.port),
            model_name: name.clone(),
            template,
            truncate_prompts: args.truncate_prompts,
        },
    )?;
    let url = format!("http://{}/v1", serving.addr);
    if args.common.json {
        super::print_json(&serde_json::json!({"url": url, "model": name}))?;
    } else {
        println!("serving `{name}` at {url} (Ctrl-C stops)");
    }
    use std::io::Write;
    std::io::stdout().flush()?;
    serving.run();
    Ok(())
}
