//! The command line of `taskctl`.

use clap::{Args, Parser, Subcommand};

/// The statuses, checked and completed locally.
pub const STATUSES: [&str; 5] = ["pending", "running", "completed", "failed", "cancelled"];
/// The priorities, checked and completed locally.
pub const PRIORITIES: [&str; 4] = ["low", "normal", "high", "critical"];
/// The ordering fields, ascending and descending.
pub const ORDERINGS: [&str; 20] = [
    "id",
    "-id",
    "created_at",
    "-created_at",
    "updated_at",
    "-updated_at",
    "started_at",
    "-started_at",
    "completed_at",
    "-completed_at",
    "scheduled_for",
    "-scheduled_for",
    "priority",
    "-priority",
    "status",
    "-status",
    "task_type",
    "-task_type",
    "progress_percentage",
    "-progress_percentage",
];

/// Administer Task Core and work with its tasks.
#[derive(Parser, Debug)]
#[command(name = "taskctl", version)]
pub struct Cli {
    /// Base URL of any node.
    #[arg(
        long,
        env = "TASKCORE_URL",
        default_value = "http://127.0.0.1:8080",
        global = true
    )]
    pub server: String,
    /// Bearer token.
    #[arg(long, env = "TASKCORE_TOKEN", global = true, hide_env_values = true)]
    pub token: Option<String>,
    /// Brand to act on (`X-Brand-ID`).
    #[arg(long, env = "TASKCORE_BRAND", default_value_t = 1, global = true)]
    pub brand: u64,
    /// Print JSON instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
    /// Certificate authorities (PEM) to trust for an `https://` server (a cluster's own CA).
    #[arg(long, env = "TASKCORE_CA_FILE", global = true)]
    pub ca_file: Option<std::path::PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Top-level commands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Mint an HS256 token (development and testing).
    Token(TokenArgs),
    /// Work with tasks.
    #[command(subcommand)]
    Tasks(TasksCommand),
    /// Statistics of the brand.
    #[command(subcommand)]
    Stats(StatsCommand),
    /// Cluster membership and state (admin token).
    #[command(subcommand)]
    Cluster(ClusterCommand),
    /// Periodic tasks: schedules that create tasks.
    #[command(subcommand)]
    Periodic(PeriodicCommand),
    /// The node at `--server` (no token needed).
    #[command(subcommand)]
    Node(NodeCommand),
    /// Save a consistent backup of the cluster's tasks, periodic tasks and idempotency keys
    /// (admin token); `taskcore restore FILE --data-dir DIR` seeds a new cluster from it.
    Backup {
        /// Where to write it (replaced atomically).
        file: std::path::PathBuf,
    },
    /// Print a shell completion script (`taskctl completions bash > /etc/bash_completion.d/taskctl`).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the man page (`taskctl man > taskctl.1`).
    Man,
}

/// `taskctl node …`.
#[derive(Subcommand, Debug)]
pub enum NodeCommand {
    /// Health, readiness, Raft position, queues, leases and attempt counts of the node.
    Status,
    /// Exit 0 when the node is ready to serve, 1 otherwise (a container health check).
    Ready,
}

/// `taskctl periodic …`.
// Parsed once per run: the size of the create variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand, Debug)]
pub enum PeriodicCommand {
    /// List the brand's periodic tasks.
    List,
    /// Show one periodic task.
    Get {
        /// Its id.
        id: u64,
    },
    /// Create a periodic task (`--cron` or `--every`).
    Create(PeriodicCreateArgs),
    /// Pause: no run until resumed.
    Pause {
        /// Its id.
        id: u64,
    },
    /// Resume a paused periodic task (missed runs are not caught up).
    Resume {
        /// Its id.
        id: u64,
    },
    /// Delete a periodic task (the tasks it created stay).
    Delete {
        /// Its id.
        id: u64,
    },
    /// Run it once now, leaving its schedule alone.
    RunNow {
        /// Its id.
        id: u64,
    },
}

/// `taskctl periodic create`.
#[derive(Args, Debug)]
pub struct PeriodicCreateArgs {
    /// Unique within the brand.
    #[arg(long)]
    pub name: String,
    /// The type of the tasks it creates.
    #[arg(long)]
    pub task_type: String,
    /// A 5-field cron expression, such as "0 9 * * MON".
    #[arg(long, conflicts_with = "every", required_unless_present = "every")]
    pub cron: Option<String>,
    /// Every this many seconds.
    #[arg(long)]
    pub every: Option<u64>,
    /// IANA time zone of the cron expression.
    #[arg(long)]
    pub timezone: Option<String>,
    /// low, normal, high or critical.
    #[arg(long, value_parser = PRIORITIES)]
    pub priority: Option<String>,
    /// Description of its tasks.
    #[arg(long)]
    pub description: Option<String>,
    /// Input of its tasks, a JSON object.
    #[arg(long)]
    pub context: Option<String>,
    /// No run before (RFC 3339).
    #[arg(long)]
    pub start_at: Option<String>,
    /// No run after (RFC 3339).
    #[arg(long)]
    pub expires_at: Option<String>,
    /// Run once, then disable.
    #[arg(long)]
    pub one_off: bool,
    /// Create it paused.
    #[arg(long)]
    pub disabled: bool,
}

/// `taskctl cluster …`.
#[derive(Subcommand, Debug)]
pub enum ClusterCommand {
    /// The leader, the term, every member with its addresses, indexes and lag.
    Status,
    /// Initialise a new cluster; without `--node`, the node at `--server` alone.
    Init {
        /// A first voter as `ID=HTTP_ADDR,RAFT_ADDR`; repeat for each.
        #[arg(long = "node", value_name = "ID=HTTP,RAFT")]
        nodes: Vec<String>,
    },
    /// Add a learner; returns once it caught up.
    AddLearner {
        /// Its node id.
        id: u64,
        /// Where clients reach it (`host:port`).
        http_addr: String,
        /// Where peers reach it (`host:port`).
        raft_addr: String,
    },
    /// Make a learner a voter.
    Promote {
        /// Its node id.
        id: u64,
    },
    /// Remove a node from the membership.
    Remove {
        /// Its node id.
        id: u64,
    },
}

/// `taskctl token`.
#[derive(Args, Debug)]
pub struct TokenArgs {
    /// The HS256 secret the nodes verify with.
    #[arg(long, env = "TASKCORE_JWT_SECRET", hide_env_values = true)]
    pub secret: String,
    /// User id (`sub`).
    #[arg(long, default_value_t = 1)]
    pub user_id: u64,
    /// User name.
    #[arg(long, default_value = "admin")]
    pub username: String,
    /// A brand the token allows, as `ID:NAME`; repeat for several.
    #[arg(long = "brand-claim", value_name = "ID:NAME")]
    pub brands: Vec<String>,
    /// A role: `admin` or `worker`; repeat for several.
    #[arg(long = "role")]
    pub roles: Vec<String>,
    /// Lifetime in seconds.
    #[arg(long, default_value_t = 3600)]
    pub ttl: u64,
}

/// `taskctl tasks …`.
#[derive(Subcommand, Debug)]
pub enum TasksCommand {
    /// List tasks (filters as in the HTTP contract).
    List(ListArgs),
    /// Show one task (id or task_id).
    Get {
        /// `id` or `task_id`.
        id: String,
    },
    /// Create a task.
    Create(CreateArgs),
    /// Create many tasks from a file: a JSON array of tasks (as `POST /tasks/` takes them),
    /// `{"tasks": [...]}`, or one task object per line. Sent 1,000 to a request; each request
    /// creates all of its tasks or none.
    CreateMany(CreateManyArgs),
    /// Cancel a pending or running task.
    Cancel {
        /// `id` or `task_id`.
        id: String,
    },
    /// Retry a failed or cancelled task.
    Retry(RetryArgs),
    /// Delete a task that is not running.
    Delete {
        /// `id` or `task_id`.
        id: String,
    },
}

/// `taskctl tasks list`.
#[derive(Args, Debug)]
pub struct ListArgs {
    /// Comma list of statuses.
    #[arg(long, value_delimiter = ',', value_parser = STATUSES)]
    pub status: Vec<String>,
    /// Comma list of priorities.
    #[arg(long, value_delimiter = ',', value_parser = PRIORITIES)]
    pub priority: Vec<String>,
    /// Comma list of task types.
    #[arg(long = "type")]
    pub task_type: Option<String>,
    /// Search terms.
    #[arg(long)]
    pub search: Option<String>,
    /// Comma list of ordering fields (`-` for descending: `--ordering -priority` works).
    #[arg(long, value_delimiter = ',', allow_hyphen_values = true, value_parser = ORDERINGS)]
    pub ordering: Vec<String>,
    /// Page number.
    #[arg(long)]
    pub page: Option<u64>,
    /// Page size (at most 500).
    #[arg(long)]
    pub page_size: Option<u64>,
}

/// `taskctl tasks create`.
#[derive(Args, Debug)]
pub struct CreateArgs {
    /// Task type.
    #[arg(long = "type")]
    pub task_type: String,
    /// Priority.
    #[arg(long, value_parser = PRIORITIES)]
    pub priority: Option<String>,
    /// Description.
    #[arg(long)]
    pub description: Option<String>,
    /// Context data, a JSON object.
    #[arg(long)]
    pub context: Option<String>,
    /// Not before (RFC 3339).
    #[arg(long)]
    pub scheduled_for: Option<String>,
    /// Automatic retries allowed.
    #[arg(long)]
    pub max_retries: Option<u32>,
    /// Limit of one attempt.
    #[arg(long)]
    pub timeout_minutes: Option<u32>,
    /// Makes the create safe to repeat.
    #[arg(long)]
    pub idempotency_key: Option<String>,
}

/// `taskctl tasks create-many`.
#[derive(Args, Debug)]
pub struct CreateManyArgs {
    /// The file of tasks (`-` for standard input).
    pub file: String,
    /// Makes the creates safe to repeat: request `n` (from 1) is sent with `KEY-n`.
    #[arg(long)]
    pub idempotency_key: Option<String>,
}

/// `taskctl tasks retry`.
#[derive(Args, Debug)]
pub struct RetryArgs {
    /// `id` or `task_id`.
    pub id: String,
    /// Keep the progress and checkpoint.
    #[arg(long)]
    pub keep_progress: bool,
    /// Keep the error message.
    #[arg(long)]
    pub keep_errors: bool,
    /// A new priority.
    #[arg(long, value_parser = PRIORITIES)]
    pub priority: Option<String>,
}

/// `taskctl stats …`.
#[derive(Subcommand, Debug)]
pub enum StatsCommand {
    /// Counts per priority queue and status.
    Queues,
    /// Counts and success rates per task type.
    Types,
}
