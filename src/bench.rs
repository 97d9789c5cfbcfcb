//! Placeholder while the bench is being written.
pub async fn run(_args: crate::cli::BenchArgs) -> anyhow::Result<()> {
    anyhow::bail!("the bench is not built yet")
}
