//! Command-line definitions only: flags, defaults and help text. No logic lives here;
//! `main.rs` hands each parsed command to its module under `commands/`.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "kcpenv",
    version,
    about = "A complete local kcp development environment in Docker, in one command",
    long_about = None,
    propagate_version = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create or reconcile the environment; returns when every component is ready.
    Up(UpArgs),
    /// Remove the environment's containers; data volumes and state are kept unless --purge.
    Down(DownArgs),
    /// Print or write the environment's kubeconfig.
    Kubeconfig(KubeconfigArgs),
    /// Show each component's container state, readiness, image and URLs.
    Status(StatusArgs),
    /// Print a component's log.
    Logs(LogsArgs),
    /// List the embedded profiles, or show one resolved.
    Profiles(ProfilesArgs),
    /// Print a fresh ID token for a Dex user (password grant), e.g. for `kubectl --token`.
    Token(TokenArgs),
    /// List, add or remove Dex users (profiles with Dex).
    Users(UsersArgs),
    /// Let USER do VERB on RESOURCE in root:orgs (the OpenFGA tuple rebac-authz-webhook checks).
    Grant(AccessArgs),
    /// Take a grant back.
    Revoke(AccessArgs),
    /// Ask OpenFGA what the webhook would ask: prints allowed (exit 0) or denied (exit 12).
    Can(AccessArgs),
    /// Read and write the environment's OpenFGA stores directly.
    Fga(FgaArgs),
    /// Stop the environment's containers; containers, volumes and state are kept.
    Stop(StopArgs),
    /// Start a stopped environment: holder first, then each component, waiting for readiness.
    Start(StartArgs),
    /// Every environment on this machine, with its profile, state and ports.
    List(ListArgs),
    /// Check this machine for what kcpenv needs; exit 13 when something blocks `up`.
    Doctor(DoctorArgs),
    /// Write diagnostics (logs) or a docker-compose file equivalent to the environment.
    Export(ExportArgs),
    /// Print the shell exports a script needs (KUBECONFIG, issuer, OpenFGA, …).
    Env(EnvExportArgs),
    /// Print a shell completion script.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// List, pull, save and load the images a profile needs (offline use).
    Images(ImagesArgs),
}

#[derive(Debug, Args)]
pub struct StopArgs {
    #[command(flatten)]
    pub env: EnvArgs,
    #[arg(long, short = 'o', value_enum, default_value = "auto")]
    pub output: OutputFormat,
    /// How long to wait for another kcpenv command working on the same environment.
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    pub lock_timeout: Duration,
}

#[derive(Debug, Args)]
pub struct StartArgs {
    #[command(flatten)]
    pub env: EnvArgs,
    /// How long to wait for all components to become ready.
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    pub wait_timeout: Duration,
    #[arg(long, short = 'o', value_enum, default_value = "auto")]
    pub output: OutputFormat,
    /// How long to wait for another kcpenv command working on the same environment.
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    pub lock_timeout: Duration,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[arg(long, short = 'o', value_enum, default_value = "auto")]
    pub output: OutputFormat,
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    #[command(flatten)]
    pub env: EnvArgs,
    /// The profile to check for (its images and ports).
    #[arg(long, short = 'p', default_value = "kcp")]
    pub profile: String,
    /// The port offset to check the ports at (default: the environment's, else 0).
    #[arg(long)]
    pub port_offset: Option<u16>,
    /// With api-syncagent: the service cluster to check, as for `up` (default: the
    /// profile's). An existing one (`kubeconfig:PATH`) is read, asked and routed.
    #[arg(long, value_name = "MODE")]
    pub service_cluster: Option<String>,
    #[arg(long, short = 'o', value_enum, default_value = "auto")]
    pub output: OutputFormat,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub env: EnvArgs,
    #[command(subcommand)]
    pub command: ExportCommand,
}

#[derive(Debug, Subcommand)]
pub enum ExportCommand {
    /// Every component's log and inspect output, the rendered configs with secrets
    /// redacted, the environment record and kcpenv's version, into directory DIR.
    Logs { dir: PathBuf },
    /// A docker-compose file equivalent to the environment: the same images, commands,
    /// files, volumes, shared network namespace and health checks (kcpenv's bootstrap
    /// after readiness is not part of it). Uses the environment's certificates and secrets.
    Compose {
        /// The profile (default: the environment's, else kcp).
        #[arg(long, short = 'p')]
        profile: Option<String>,
        /// Port offset (default: the environment's, else 0).
        #[arg(long)]
        port_offset: Option<u16>,
        /// Write here (mode 0600) instead of stdout.
        #[arg(long = "output", short = 'o', value_name = "FILE")]
        file: Option<PathBuf>,
        /// Write the containers' files under DIR (with their owners when run as root) and
        /// bind-mount them, instead of inline configs: for engines that cannot copy a
        /// config with an owner (Docker Engine 20.10 looks the user up on the host).
        #[arg(long, value_name = "DIR")]
        files_dir: Option<PathBuf>,
    },
}

#[derive(Debug, Args)]
pub struct EnvExportArgs {
    #[command(flatten)]
    pub env: EnvArgs,
    #[arg(long, value_enum, default_value = "bash")]
    pub shell: ExportShell,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportShell {
    Bash,
    Zsh,
    Fish,
}

#[derive(Debug, Args)]
pub struct ImagesArgs {
    #[command(subcommand)]
    pub command: ImagesCommand,
}

#[derive(Debug, Subcommand)]
pub enum ImagesCommand {
    /// Every image the profile needs: reference, whether present, its platform and digest.
    List {
        #[arg(long, short = 'p', default_value = "kcp")]
        profile: String,
        #[arg(long, short = 'o', value_enum, default_value = "auto")]
        output: OutputFormat,
    },
    /// Pull the profile's images that are missing (never one already present).
    Pull {
        #[arg(long, short = 'p', default_value = "kcp")]
        profile: String,
    },
    /// Save the profile's images into one archive (`docker save` format).
    Save {
        #[arg(long, short = 'p', default_value = "kcp")]
        profile: String,
        /// The archive to write.
        #[arg(long = "output", short = 'o', value_name = "FILE")]
        file: PathBuf,
        /// Every image must be for this platform (default: the engine's, e.g. linux/amd64).
        #[arg(long)]
        platform: Option<String>,
    },
    /// Load an archive written by `images save`; with --profile, check it had every image.
    Load {
        file: PathBuf,
        #[arg(long, short = 'p')]
        profile: Option<String>,
    },
}

#[derive(Debug, Args)]
pub struct AccessArgs {
    #[command(flatten)]
    pub env: EnvArgs,
    /// The kcp user name: the email Dex issues (e.g. alice@example.com).
    pub user: String,
    /// A Kubernetes verb: get, list, watch, create, update, patch, delete, deletecollection.
    #[arg(long)]
    pub verb: String,
    /// The resource's plural name, e.g. configmaps.
    #[arg(long)]
    pub resource: String,
    /// The resource's API group (default: the core group).
    #[arg(long, default_value = "")]
    pub group: String,
    /// The workspace; the webhook's orgs handler answers root:orgs.
    #[arg(long, default_value = "root:orgs")]
    pub workspace: String,
    #[arg(long, short = 'o', value_enum, default_value = "auto")]
    pub output: OutputFormat,
}

#[derive(Debug, Args)]
pub struct FgaArgs {
    #[command(flatten)]
    pub env: EnvArgs,
    /// The store, by name.
    #[arg(long, default_value = "orgs", global = true)]
    pub store: String,
    #[arg(long, short = 'o', value_enum, default_value = "auto", global = true)]
    pub output: OutputFormat,
    #[command(subcommand)]
    pub command: FgaCommand,
}

#[derive(Debug, Subcommand)]
pub enum FgaCommand {
    /// Every tuple of the store, one `USER RELATION OBJECT` per line.
    Tuples,
    /// Write a tuple, e.g. `fga write user:alice@example.com member tenancy_kcp_io_workspace:orgs`.
    Write {
        user: String,
        relation: String,
        object: String,
    },
    /// Delete a tuple.
    Delete {
        user: String,
        relation: String,
        object: String,
    },
    /// The store's newest authorization model (OpenFGA's JSON form).
    Model,
}

#[derive(Debug, Args)]
pub struct UsersArgs {
    #[command(flatten)]
    pub env: EnvArgs,
    #[command(subcommand)]
    pub command: Option<UsersCommand>,
    /// With list: also print each user's password.
    #[arg(long, global = true)]
    pub show_passwords: bool,
    #[arg(long, short = 'o', value_enum, default_value = "auto", global = true)]
    pub output: OutputFormat,
}

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// The users Dex knows, with their groups.
    List,
    /// Add a user; Dex alone is re-rendered and restarted.
    Add {
        email: String,
        /// A group (repeatable); kcp sees it with the profile's groups prefix.
        #[arg(long = "group", value_name = "GROUP")]
        groups: Vec<String>,
        /// A fixed password (default: random, kept in secrets.yaml).
        #[arg(long)]
        password: Option<String>,
    },
    /// Remove a user; Dex alone is re-rendered and restarted.
    Remove { email: String },
}

#[derive(Debug, Args)]
pub struct TokenArgs {
    #[command(flatten)]
    pub env: EnvArgs,
    /// The user's email.
    #[arg(long, value_name = "EMAIL")]
    pub user: String,
    /// Log in with this password instead of the one in the environment's secrets.yaml.
    #[arg(long)]
    pub password: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct EnvArgs {
    /// Environment name: lowercase letters, digits and '-', starting with a letter.
    #[arg(
        long = "name",
        short = 'n',
        env = "KCPENV_NAME",
        default_value = "kcpenv",
        global = true
    )]
    pub name: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Live progress lines when stderr is a terminal, plain lines otherwise.
    Auto,
    /// Live progress (one line per component).
    Tty,
    /// One plain line per event.
    Plain,
    /// JSON lines on stderr for events, one JSON document on stdout for the result.
    Json,
}

#[derive(Debug, Args)]
pub struct UpArgs {
    #[command(flatten)]
    pub env: EnvArgs,
    /// Embedded profile name or a path to a profile YAML file.
    #[arg(long, short = 'p', default_value = "kcp")]
    pub profile: String,
    /// Shift every port (inside the shared namespace and on the host) by N. Default: the
    /// environment's own; for a new one 0, or the first multiple of 100 at which every
    /// port is free.
    #[arg(long)]
    pub port_offset: Option<u16>,
    /// How long to wait for all components to become ready.
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    pub wait_timeout: Duration,
    /// Use REF as the image of COMPONENT (repeatable), e.g. --image kcp=my/kcp:dev.
    #[arg(long = "image", value_name = "COMPONENT=REF")]
    pub images: Vec<String>,
    /// With api-syncagent: the service cluster, `kcp-workspace` or `kubeconfig:PATH`
    /// (overrides the profile's `syncagent.serviceCluster`).
    #[arg(long, value_name = "MODE")]
    pub service_cluster: Option<String>,
    /// On failure, keep what this run created (for debugging) instead of removing it.
    #[arg(long)]
    pub keep_on_failure: bool,
    /// How to report progress.
    #[arg(long, short = 'o', value_enum, default_value = "auto")]
    pub output: OutputFormat,
    /// How long to wait for another kcpenv command working on the same environment.
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    pub lock_timeout: Duration,
}

#[derive(Debug, Args)]
pub struct DownArgs {
    #[command(flatten)]
    pub env: EnvArgs,
    /// Also delete the data volumes, the state directory (CA, secrets, kubeconfig) and kubeconfig entries merged elsewhere.
    #[arg(long)]
    pub purge: bool,
    #[arg(long, short = 'o', value_enum, default_value = "auto")]
    pub output: OutputFormat,
    /// How long to wait for another kcpenv command working on the same environment.
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    pub lock_timeout: Duration,
}

#[derive(Debug, Args)]
pub struct KubeconfigArgs {
    #[command(flatten)]
    pub env: EnvArgs,
    /// Print only the path of the kubeconfig file (for `export KUBECONFIG=$(kcpenv kubeconfig --path)`).
    #[arg(long, conflicts_with = "merge")]
    pub path: bool,
    /// Merge the environment's entries into your kubeconfig (kubectl's precedence rules).
    #[arg(long)]
    pub merge: bool,
    /// With --merge: also make the environment's context the current one.
    #[arg(long, requires = "merge")]
    pub switch: bool,
    /// With --merge: the file to merge into (default: first file in $KUBECONFIG, else ~/.kube/config).
    #[arg(long, requires = "merge", value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// The context to make current: a full name or a short one (root, base, oidc).
    #[arg(long, conflicts_with = "user")]
    pub context: Option<String>,
    /// Add a context `kcpenv-<env>-<EMAIL>` that logs in as this Dex user, and make it current.
    #[arg(long, value_name = "EMAIL")]
    pub user: Option<String>,
    /// With --user: log in with the password grant (no browser, no prompt), for scripts.
    #[arg(long, requires = "user")]
    pub non_interactive: bool,
    /// List every kubeconfig of the environment (admin, the sync agent's, …) with its path.
    #[arg(long, conflicts_with_all = ["path", "merge", "context", "user"])]
    pub list: bool,
    #[arg(long, short = 'o', value_enum, default_value = "auto")]
    pub output: OutputFormat,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub env: EnvArgs,
    #[arg(long, short = 'o', value_enum, default_value = "auto")]
    pub output: OutputFormat,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    #[command(flatten)]
    pub env: EnvArgs,
    /// Component name, as `kcpenv status` lists it.
    pub component: String,
    /// Keep printing new lines as they are written.
    #[arg(long, short = 'f')]
    pub follow: bool,
    /// Only the last N lines.
    #[arg(long)]
    pub tail: Option<u64>,
}

#[derive(Debug, Args)]
pub struct ProfilesArgs {
    #[command(subcommand)]
    pub command: Option<ProfilesCommand>,
}

#[derive(Debug, Subcommand)]
pub enum ProfilesCommand {
    /// List the embedded profiles.
    List,
    /// Print a profile with every default applied (embedded name or file path).
    Show { profile: String },
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("{e} (examples: 90s, 5m, 1h)"))
}
