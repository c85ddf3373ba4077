//! Separate hosts on one machine: a network namespace per node, with two networks.
//!
//! - The **client network** joins each node to the test process (in the root namespace) by a
//!   veth pair of its own, `10.201.S.(4i+1)/30` on the test's side and `10.201.S.(4i+2)/30` on
//!   the node's. Nodes cannot reach each other on it (the root namespace does not forward), and
//!   it is never cut: an isolated node keeps receiving client requests.
//! - The **peer network** is a bridge in a namespace of its own (`…sw`), one port per node,
//!   `10.202.S.(i+1)/24`. A nemesis cuts a node off by setting its port down: frames are dropped,
//!   connections time out, as in a real partition (nothing is refused).
//!
//! **Nothing leaves the machine**: before any namespace exists, both `/24` blocks get an
//! `unreachable` route in the root namespace, so that an address whose namespace is gone fails
//! at once instead of following the default route; the namespaces have no default route; the
//! routes are removed last. `S` is a slot from 1 to 250 held by an exclusive `flock` for the
//! whole run, so two test binaries never share a name or an address; whatever a killed run
//! left in a slot is removed by the next holder before it builds anything.
//!
//! Everything is torn down on drop, the test's failure included. Where namespaces cannot be
//! made (not root, no `ip`), [`Net::create`] says why: the tests print it and are skipped, or
//! fail when `TASKCORE_REQUIRE_NETNS` is set (CI sets it: there, a skip would be a silent pass).

use std::fs::File;
use std::os::fd::AsRawFd;
use std::process::{Command, Stdio};

const CLIENT_BLOCK: u8 = 201;
const PEER_BLOCK: u8 = 202;
/// The nodes' HTTP port on the client network.
pub const HTTP_PORT: u16 = 8080;
/// The nodes' Raft port on the peer network.
pub const RAFT_PORT: u16 = 7000;

/// Runs `ip` with these arguments; its error output when it fails.
fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("ip {}: {e}", args.join(" ")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Whether these tests can run; why not, otherwise.
fn available() -> Result<(), String> {
    // SAFETY: geteuid has no preconditions and touches no memory.
    if unsafe { libc::geteuid() } != 0 {
        return Err("network namespaces need root".into());
    }
    ip(&["netns", "list"]).map_err(|e| format!("iproute2 is not usable: {e}"))
}

/// Prints why a fault test cannot run and whether it is skipped; panics when namespaces are
/// required (`TASKCORE_REQUIRE_NETNS`).
pub fn skip(test: &str, why: &str) {
    if std::env::var_os("TASKCORE_REQUIRE_NETNS").is_some() {
        panic!("{test}: network namespaces are required here but {why}");
    }
    eprintln!("SKIPPED {test}: {why} (set TASKCORE_REQUIRE_NETNS=1 to make this an error)");
}

/// The namespaces, links and routes of one test's hosts.
pub struct Net {
    slot: u8,
    nodes: usize,
    /// Held for the whole run: the slot is ours.
    _lock: File,
}

impl Net {
    /// Builds `nodes` hosts and their two networks; why not, when it cannot.
    pub fn create(nodes: usize) -> Result<Net, String> {
        assert!((1..=60).contains(&nodes), "up to 60 hosts per slot");
        available()?;
        let (slot, lock) = claim_slot()?;
        let net = Net {
            slot,
            nodes,
            _lock: lock,
        };
        // A run killed before its drop left its slot as it was: clear it first.
        net.teardown();
        net.build()
            .map_err(|e| format!("building the namespaces: {e}"))?;
        Ok(net)
    }

    fn build(&self) -> Result<(), String> {
        let s = self.slot;
        for block in [CLIENT_BLOCK, PEER_BLOCK] {
            ip(&[
                "route",
                "add",
                "unreachable",
                &format!("10.{block}.{s}.0/24"),
            ])?;
        }
        let sw = self.switch();
        ip(&["netns", "add", &sw])?;
        ip(&["-n", &sw, "link", "add", "br0", "type", "bridge"])?;
        ip(&["-n", &sw, "link", "set", "br0", "up"])?;
        for i in 0..self.nodes {
            let ns = self.ns(i);
            ip(&["netns", "add", &ns])?;
            ip(&["-n", &ns, "link", "set", "lo", "up"])?;
            // Client network: a veth pair between the root namespace and the node.
            let (outer, inner) = (format!("tcf{s}c{i}"), format!("tcf{s}C{i}"));
            ip(&[
                "link", "add", &outer, "type", "veth", "peer", "name", &inner,
            ])?;
            ip(&["link", "set", &inner, "netns", &ns])?;
            let base = 4 * i as u32;
            ip(&[
                "addr",
                "add",
                &format!("10.{CLIENT_BLOCK}.{s}.{}/30", base + 1),
                "dev",
                &outer,
            ])?;
            ip(&["link", "set", &outer, "up"])?;
            let client_ip = format!("{}/30", self.client_ip(i));
            ip(&["-n", &ns, "addr", "add", &client_ip, "dev", &inner])?;
            ip(&["-n", &ns, "link", "set", &inner, "up"])?;
            // Peer network: a port on the switch's bridge.
            let (port, nic) = (self.port(i), format!("tcf{s}P{i}"));
            ip(&["link", "add", &port, "type", "veth", "peer", "name", &nic])?;
            ip(&["link", "set", &port, "netns", &sw])?;
            ip(&["link", "set", &nic, "netns", &ns])?;
            ip(&["-n", &sw, "link", "set", &port, "master", "br0"])?;
            ip(&["-n", &sw, "link", "set", &port, "up"])?;
            let peer_ip = format!("{}/24", self.peer_ip(i));
            ip(&["-n", &ns, "addr", "add", &peer_ip, "dev", &nic])?;
            ip(&["-n", &ns, "link", "set", &nic, "up"])?;
        }
        Ok(())
    }

    /// The namespace of host `i` (0-based).
    pub fn ns(&self, i: usize) -> String {
        format!("tcf{}n{i}", self.slot)
    }

    fn switch(&self) -> String {
        format!("tcf{}sw", self.slot)
    }

    fn port(&self, i: usize) -> String {
        format!("tcf{}p{i}", self.slot)
    }

    /// Host `i`'s address on the client network.
    pub fn client_ip(&self, i: usize) -> String {
        format!("10.{CLIENT_BLOCK}.{}.{}", self.slot, 4 * i + 2)
    }

    /// Host `i`'s address on the peer network.
    pub fn peer_ip(&self, i: usize) -> String {
        format!("10.{PEER_BLOCK}.{}.{}", self.slot, i + 1)
    }

    /// Cuts host `i` off the peer network (its clients still reach it).
    pub fn cut(&self, i: usize) {
        self.set_port(i, "down");
    }

    /// Joins host `i` to the peer network again.
    pub fn heal(&self, i: usize) {
        self.set_port(i, "up");
    }

    /// Joins every host to the peer network.
    pub fn heal_all(&self) {
        for i in 0..self.nodes {
            self.heal(i);
        }
    }

    fn set_port(&self, i: usize, state: &str) {
        let port = self.port(i);
        if let Err(e) = ip(&["-n", &self.switch(), "link", "set", &port, state]) {
            panic!("setting the peer port of host {i} {state}: {e}");
        }
    }

    /// Kills what runs in this slot's namespaces, deletes their links (a veth pair goes at
    /// once with either end; a namespace's own links only when the kernel gets to it), the
    /// namespaces, and then the routes. Errors are of things already gone.
    fn teardown(&self) {
        let s = self.slot;
        let prefix = format!("tcf{s}");
        let existing = output(&["netns", "list"]);
        let ours = existing
            .lines()
            .filter_map(|l| l.split_whitespace().next())
            .filter(|name| {
                name.strip_prefix(&prefix)
                    .is_some_and(|rest| rest.starts_with(['n', 's']))
            });
        for name in ours.map(str::to_owned).collect::<Vec<_>>() {
            kill_pids_in(&name);
            for link in links(&["-n", &name], &prefix) {
                let _ = ip(&["-n", &name, "link", "del", &link]);
            }
            let _ = ip(&["netns", "del", &name]);
        }
        for link in links(&[], &prefix) {
            let _ = ip(&["link", "del", &link]);
        }
        for block in [CLIENT_BLOCK, PEER_BLOCK] {
            let _ = ip(&[
                "route",
                "del",
                "unreachable",
                &format!("10.{block}.{s}.0/24"),
            ]);
        }
    }
}

/// The standard output of `ip` with these arguments (empty when it fails).
fn output(args: &[&str]) -> String {
    Command::new("ip")
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

/// The links whose name starts with `prefix`, in the namespace `ns_args` selects.
fn links(ns_args: &[&str], prefix: &str) -> Vec<String> {
    let mut args = ns_args.to_vec();
    args.extend(["-o", "link", "show"]);
    output(&args)
        .lines()
        .filter_map(|l| l.split(": ").nth(1))
        .map(|name| name.split('@').next().unwrap_or(name).to_owned())
        .filter(|name| name.starts_with(prefix))
        .collect()
}

impl Drop for Net {
    fn drop(&mut self) {
        self.teardown();
    }
}

/// SIGKILLs every process in namespace `name` (a node a panicking test left running).
fn kill_pids_in(name: &str) {
    let Ok(out) = Command::new("ip").args(["netns", "pids", name]).output() else {
        return;
    };
    for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
        if let Ok(pid) = pid.parse::<i32>() {
            // SAFETY: kill(2) touches no memory of ours.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
}

/// Takes the first free slot, starting from one derived from our pid.
fn claim_slot() -> Result<(u8, File), String> {
    let start = std::process::id() % 250;
    for k in 0..250u32 {
        let slot = ((start + k) % 250 + 1) as u8;
        let path = std::env::temp_dir().join(format!("taskcore-netns-slot-{slot}.lock"));
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        // SAFETY: flock(2) on a descriptor we own.
        let locked = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0;
        if locked {
            return Ok((slot, file));
        }
    }
    Err("every namespace slot is taken".into())
}
