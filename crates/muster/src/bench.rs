//! `muster bench NAME`: built-in benchmarks printing one JSON object per line.

use clap::Args;

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Which benchmark: api.
    pub name: String,
    /// JSON lines only (the default output is JSON lines too).
    #[arg(long)]
    pub json: bool,
}

pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    anyhow::bail!("unknown benchmark `{}`; available: api", args.name)
}
