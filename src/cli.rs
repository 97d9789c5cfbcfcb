//! The command line: clap derive structs (validation only). `main.rs` turns them into running
//! objects. Every command has `--help`; bad flags end with one line on stderr and exit code 2.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::sandbox::config::Activation;
use crate::sandbox::tls::{ClientAuthMode, TlsFlags};
use crate::sandbox::{Bank, Fault};

/// Open Banking event notifications: a mock bank sandbox and a conformance harness.
#[derive(Debug, Parser)]
#[command(name = "obevents", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Log filter (tracing `EnvFilter` syntax), e.g. `info`, `obevents=debug` [default: info,
    /// or the sandbox config's `[server] log`].
    #[arg(long, global = true, env = "OBEVENTS_LOG")]
    pub log: Option<String>,
    /// Log line format: `text`, or `json` (one JSON object per line, the event's fields at its
    /// top level, for log shippers).
    #[arg(
        long,
        global = true,
        env = "OBEVENTS_LOG_FORMAT",
        value_enum,
        default_value = "text"
    )]
    pub log_format: LogFormat,
}

/// How log lines are written (`--log-format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the mock bank (ASPSP) sandbox.
    Sandbox(SandboxArgs),
    /// Run the conformance suite against a bank (the embedded sandbox when no profile is given).
    Test(TestArgs),
    /// Measure the sandbox's throughput and latency (figures quoted in the README).
    Bench(BenchArgs),
    /// The reference TPP: a conformant push and webhook receiver and polling client, with
    /// switchable faults.
    // Boxed: its receive and poll flags make it several times larger than the other variants.
    Tpp(Box<TppArgs>),
    /// Write a development CA, a server certificate and TPP client certificates (PEM) for
    /// running the sandbox over HTTPS with mutual TLS.
    Certs(CertsArgs),
}

/// The certificate and key a server (the sandbox, the reference TPP) serves HTTPS with.
#[derive(Debug, Args)]
pub struct ServeTlsArgs {
    /// Serve HTTPS with this certificate chain (PEM); needs --tls-key.
    #[arg(long, value_name = "PEM")]
    pub tls_cert: Option<PathBuf>,
    /// Private key of --tls-cert (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(long, value_name = "PEM")]
    pub tls_key: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct TppArgs {
    #[command(subcommand)]
    pub command: TppCommand,
}

#[derive(Debug, Subcommand)]
pub enum TppCommand {
    /// Receive pushed SETs: verify each against the bank's JWKS, issuer and this TPP's
    /// audience, answer per RFC 8935 (202, or 400 with an error code), act on each jti once.
    Receive(ReceiveArgs),
    /// Poll the bank's `POST /events` (OBIE aggregated polling, RFC 8936): token by client
    /// credentials, verify each SET as `receive` does, ack the valid ones, report the others in
    /// setErrs, follow moreAvailable, honour Retry-After, re-token on 401, pace empty polls.
    Poll(PollArgs),
}

/// Where a polling client reaches the bank (`tpp poll`, or `tpp receive` polling as well).
#[derive(Debug, Args)]
pub struct PollFlags {
    /// The bank's polling endpoint (`…/open-banking/v3.1/events`); with `receive`, polls too.
    #[arg(long, value_name = "URL")]
    pub events_url: Option<String>,
    /// The bank's token endpoint (client credentials, HTTP Basic).
    #[arg(long, value_name = "URL")]
    pub token_url: Option<String>,
    /// This TPP's client id at the bank.
    #[arg(long)]
    pub client_id: Option<String>,
    /// This TPP's client secret at the bank.
    #[arg(long)]
    pub client_secret: Option<String>,
    /// The scope asked for at the token endpoint.
    #[arg(long, default_value = "accounts")]
    pub scope: String,
    /// How long to wait after an empty poll, in milliseconds (10 to 3600000).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(10..=3_600_000))]
    pub pace_ms: u64,
    /// Long-poll (`returnImmediately: false`): the bank holds an empty poll, so no wait after
    /// one (errors still wait --pace-ms).
    #[arg(long)]
    pub long_poll: bool,
}

#[derive(Debug, Args)]
pub struct PollArgs {
    #[command(flatten)]
    pub poll: PollFlags,
    /// The bank's JWKS URL (the SETs' signing keys).
    #[arg(long, value_name = "URL")]
    pub jwks_url: Option<String>,
    /// The `iss` the bank's SETs carry.
    #[arg(long)]
    pub issuer: Option<String>,
    /// This TPP's audience: the `aud` of SETs meant for it (its client id at the bank).
    #[arg(long)]
    pub audience: Option<String>,
    /// Append each processed jti to this file (one per line).
    #[arg(long, value_name = "FILE")]
    pub processed: Option<PathBuf>,
    /// Switch on a deliberate TPP defect (repeatable); see --list-faults.
    #[arg(long = "fault", value_name = "NAME")]
    pub faults: Vec<crate::tpp::TppFault>,
    /// Print every TPP fault with the rules it breaks, then exit.
    #[arg(long)]
    pub list_faults: bool,
}

#[derive(Debug, Args)]
pub struct ReceiveArgs {
    /// Address to listen on, `HOST:PORT` (port 0 picks a free one; the first line printed
    /// says which).
    #[arg(long, default_value = "127.0.0.1:8090")]
    pub addr: String,
    /// The path pushes arrive at.
    #[arg(long, default_value = "/event-notifications")]
    pub path: String,
    /// The bank's JWKS URL (the SETs' signing keys).
    #[arg(long, value_name = "URL", required_unless_present = "list_faults")]
    pub jwks_url: Option<String>,
    /// The `iss` the bank's SETs carry.
    #[arg(long, required_unless_present = "list_faults")]
    pub issuer: Option<String>,
    /// This TPP's audience: the `aud` of SETs meant for it (its client id at the bank).
    #[arg(long, required_unless_present = "list_faults")]
    pub audience: Option<String>,
    /// Append each processed jti to this file (one per line; also served at GET /processed).
    #[arg(long, value_name = "FILE")]
    pub processed: Option<PathBuf>,
    #[command(flatten)]
    pub tls: ServeTlsArgs,
    /// Require client certificates issued by these CAs (PEM): mutual TLS with the bank.
    #[arg(long, value_name = "PEM")]
    pub client_ca: Option<PathBuf>,
    /// This TPP's application id at a Yapily-style sender: the `applicationId` its
    /// notifications carry (default: --audience). Served at POST /webhooks/yapily.
    #[arg(long, value_name = "ID")]
    pub application_id: Option<String>,
    /// The Webhook Security Header configured at a Tatra-style bank: webhooks at POST
    /// /webhooks/tatra must carry it as Authorization (default: none, any call is taken).
    #[arg(long, value_name = "VALUE")]
    pub tatra_authorization: Option<String>,
    #[command(flatten)]
    pub poll: PollFlags,
    /// Switch on a deliberate TPP defect (repeatable); see --list-faults.
    #[arg(long = "fault", value_name = "NAME")]
    pub faults: Vec<crate::tpp::TppFault>,
    /// Print every TPP fault with the rules it breaks, then exit.
    #[arg(long)]
    pub list_faults: bool,
}

#[derive(Debug, Args)]
pub struct CertsArgs {
    /// Folder to write the PEM files to (created if missing).
    #[arg(long, value_name = "DIR")]
    pub out: std::path::PathBuf,
    /// A DNS name or IP address the sandbox is reached by (repeatable; default localhost,
    /// 127.0.0.1 and ::1).
    #[arg(long = "name", value_name = "HOST")]
    pub names: Vec<String>,
    /// A TPP client certificate to issue, with this common name (repeatable).
    #[arg(long = "client", value_name = "NAME")]
    pub clients: Vec<String>,
    /// How long the certificates are valid, in days.
    #[arg(long, default_value_t = 365, value_parser = clap::value_parser!(i64).range(1..=3650))]
    pub days: i64,
    /// Replace files that already exist.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct SandboxArgs {
    /// Address to listen on, `HOST:PORT` (`localhost:8080` resolves to its first address);
    /// port 0 picks a free port (the log line shows which) [default: the config's
    /// `[server] addr`, else 127.0.0.1:8080].
    #[arg(long)]
    pub addr: Option<String>,
    /// Database: a SQLite file, `:memory:` for a throwaway sandbox, or a PostgreSQL URL
    /// (`postgres://user:pass@host:5432/db`) that several sandbox replicas can share
    /// [default: the config's `[server] db`, else obevents.db].
    #[arg(long, env = "OBEVENTS_DB")]
    pub db: Option<String>,
    /// Bank personality: obie (default), ob312, wso2, hsbc, yapily, tatra. Overrides the
    /// config file.
    #[arg(long)]
    pub bank: Option<Bank>,
    /// Switch on a deliberate defect (repeatable); see --list-faults.
    #[arg(long = "fault", value_name = "NAME")]
    pub faults: Vec<Fault>,
    /// TOML config file (format in the README).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Print every fault with the rules it violates, then exit.
    #[arg(long)]
    pub list_faults: bool,
    #[command(flatten)]
    pub tls: ServeTlsArgs,
    /// CA certificates (PEM) that vouch for client certificates (mutual TLS,
    /// `tls_client_auth`); asks for client certificates (--client-auth optional) by default.
    #[arg(long, value_name = "PEM")]
    pub client_ca: Option<PathBuf>,
    /// Whether the TLS handshake asks for a client certificate.
    #[arg(long, value_enum)]
    pub client_auth: Option<ClientAuthMode>,
    /// Tatra personality: when webhooks start after enabling (overrides `[tatra] activation`).
    #[arg(long, value_enum)]
    pub tatra_activation: Option<Activation>,
    /// Tatra personality: how long each other bank of a refresh takes, in milliseconds
    /// (overrides `[tatra] refresh_delay_ms`).
    #[arg(long, value_name = "MS")]
    pub tatra_refresh_delay_ms: Option<u64>,
    /// The URL clients reach the sandbox by (issuer, JWKS URL, SETs); overrides the config's
    /// `public_url`. Needed when listening on a wildcard address such as 0.0.0.0.
    #[arg(long, env = "OBEVENTS_PUBLIC_URL", value_name = "URL")]
    pub public_url: Option<String>,
}

impl SandboxArgs {
    /// The TLS flags, to merge over the config file's `[tls]`.
    pub fn tls_flags(&self) -> TlsFlags {
        TlsFlags {
            cert: self.tls.tls_cert.clone(),
            key: self.tls.tls_key.clone(),
            client_ca: self.client_ca.clone(),
            client_auth: self.client_auth,
        }
    }
}

#[derive(Debug, Args)]
pub struct TestArgs {
    /// Target profile (TOML). Without one, the embedded sandbox is started and tested.
    #[arg(long)]
    pub profile: Option<PathBuf>,
    /// TPP profile (TOML): referee the TPP it describes instead of testing a bank.
    #[arg(long, value_name = "PROFILE", conflicts_with_all = ["profile", "bank", "faults"])]
    pub tpp: Option<PathBuf>,
    /// Replace the profile's target.base_url (paths and `{base_url}` in the profile follow it).
    #[arg(long, requires = "profile")]
    pub base_url: Option<String>,
    /// Personality of the embedded sandbox (only without --profile).
    #[arg(long, conflicts_with = "profile")]
    pub bank: Option<Bank>,
    /// Faults of the embedded sandbox (only without --profile; repeatable).
    #[arg(long = "fault", value_name = "NAME", conflicts_with = "profile")]
    pub faults: Vec<Fault>,
    /// Tag expression selecting scenarios, e.g. `@AP-09 or (@ES-03 and not @callback-urls)`.
    #[arg(long)]
    pub tags: Option<String>,
    /// Directory of .feature files (default: the features built into the binary).
    #[arg(long)]
    pub features: Option<PathBuf>,
    /// Where the reports go.
    #[arg(long, default_value = "reports")]
    pub report_dir: PathBuf,
    /// Also write the JUnit XML here (it is always written to the report directory).
    #[arg(long)]
    pub junit: Option<PathBuf>,
    /// Scenarios run at once (default: 16 with per-scenario clients, 1 with fixed clients).
    #[arg(long)]
    pub concurrency: Option<usize>,
    /// Stop after the first failing scenario.
    #[arg(long)]
    pub fail_fast: bool,
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Seconds per measured phase.
    #[arg(long, default_value_t = 3)]
    pub seconds: u64,
    /// Concurrent client connections (with --profile: requests in flight per stream).
    #[arg(long, default_value_t = 32)]
    pub connections: usize,
    /// Stored events for the poll-latency-vs-store-size phase (comma-separated).
    #[arg(long, default_value = "1000,100000")]
    pub store_sizes: String,
    /// Database for the bench sandbox: a SQLite file (default: a temporary one) or a
    /// PostgreSQL URL (its tables are used as they are: give it an empty database).
    #[arg(long)]
    pub db: Option<String>,
    /// Which phases to run, comma-separated, in this order whatever the list's order:
    /// polls, ingest, latency, push, held (default: all; with a PostgreSQL --db the polls phase
    /// includes the cross-replica and SQLite comparisons).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "polls,ingest,latency,push,held"
    )]
    pub phases: Vec<BenchPhase>,
    /// Long polls held at once in the held-polls phase (0 skips it).
    #[arg(long, default_value_t = 10_000)]
    pub held_polls: usize,
    /// Wake-up rounds measured while the polls are held.
    #[arg(long, default_value_t = 200)]
    pub wake_rounds: usize,
    /// Also write every figure, its limit and ratio as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Print the table as Markdown (the README's performance table is pasted from it).
    #[arg(long)]
    pub markdown: bool,
    /// Bench the bank this target profile describes (poll/ack loops, triggers, pushes);
    /// needs --rate and --duration. With --rate and --duration but no profile: the embedded
    /// sandbox through its built-in profile.
    #[arg(long, value_name = "FILE")]
    pub profile: Option<PathBuf>,
    /// Open-loop rate: triggers per second over the TPPs, and polls per second per polling
    /// TPP (requests start on schedule whatever the answers take).
    #[arg(long, value_name = "PER_SECOND")]
    pub rate: Option<f64>,
    /// Seconds of load with --profile.
    #[arg(long, value_name = "SECONDS")]
    pub duration: Option<u64>,
}

/// A phase of the sandbox bench (`--phases`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BenchPhase {
    /// Short polls against `/healthz` (and, on PostgreSQL, cross-replica wake-up and SQLite's polls).
    Polls,
    /// Event ingest against the signing limit.
    Ingest,
    /// Poll latency against the store's size.
    Latency,
    /// Push throughput against a plain POST loop, and retry timing.
    Push,
    /// Long polls held at once: wake-up and memory.
    Held,
}
