//! The offline sandbox shared by the CLI's and the desktop app's offline tests:
//! whether `unshare -n` + `strace` can run here, and what in an strace log counts
//! as network use. Included with `#[path]` by `crates/cli/tests/offline.rs` and
//! `src-tauri/tests/e2e/offline.rs`.

use std::process::Command;

/// Why the sandbox cannot run on this machine, or `None` when it can.
pub fn sandbox_missing() -> Option<String> {
    let uid = Command::new("id").arg("-u").output().ok()?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return Some("not root: unshare -n needs CAP_SYS_ADMIN".into());
    }
    for tool in ["strace", "unshare"] {
        if Command::new(tool).arg("--version").output().is_err() {
            return Some(format!(
                "{tool} is not installed (scripts/setup.sh installs it)"
            ));
        }
    }
    // The namespace must be creatable here and hold nothing but loopback; this also
    // checks the premise of the test rather than trusting the flag.
    match Command::new("unshare")
        .args(["-n", "cat", "/proc/net/dev"])
        .output()
    {
        Ok(out) if out.status.success() => {
            let text = String::from_utf8_lossy(&out.stdout);
            let interfaces: Vec<&str> = text
                .lines()
                .skip(2)
                .filter_map(|l| l.split(':').next())
                .map(str::trim)
                .collect();
            assert_eq!(
                interfaces,
                ["lo"],
                "the new namespace must have only loopback"
            );
            None
        }
        Ok(out) => Some(format!(
            "cannot create a network namespace: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )),
        Err(e) => Some(format!("cannot run unshare: {e}")),
    }
}

/// Which sockets besides `AF_UNIX` a traced program may open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Allow {
    /// Nothing else: the `cairn` binary.
    UnixOnly,
    /// Also `AF_NETLINK` sockets of the `NETLINK_ROUTE` protocol, which read the
    /// machine's own interface and route tables and reach no other host: GLib's
    /// network monitor in WebKit's processes opens them (desktop app).
    UnixAndRouteNetlink,
}

/// Network use in an strace log that breaks the promise: any socket outside what
/// `allow` permits, and any call that addresses an internet peer.
pub fn violations(trace: &str, allow: Allow) -> Vec<String> {
    let mut out = Vec::new();
    for line in trace.lines() {
        // Lines look like `1234 socket(AF_INET, SOCK_DGRAM, IPPROTO_IP) = 15`; a call
        // split by another thread shows its arguments on the `<unfinished ...>` half.
        let call = line
            .split_once(' ')
            .map(|(_, rest)| rest.trim_start())
            .unwrap_or(line);
        if let Some(args) = call
            .strip_prefix("socket(")
            .or_else(|| call.strip_prefix("socketpair("))
        {
            // First word of each argument: a call split by another thread ends its
            // line with `<unfinished ...>` right after the last argument it printed.
            let parts: Vec<&str> = args
                .split([',', ')'])
                .map(|a| a.split_whitespace().next().unwrap_or(""))
                .collect();
            let family = parts.first().copied().unwrap_or("");
            let protocol = parts.get(2).copied().unwrap_or("");
            let route_netlink = family == "AF_NETLINK" && protocol == "NETLINK_ROUTE";
            let allowed = family == "AF_UNIX"
                || family == "AF_LOCAL"
                || (allow == Allow::UnixAndRouteNetlink && route_netlink);
            if !allowed {
                out.push(line.to_string());
            }
        } else if line.contains("sa_family=AF_INET") {
            // connect, sendto, sendmsg, bind... to an IPv4 or IPv6 address.
            out.push(line.to_string());
        }
    }
    out
}

#[test]
fn trace_check_flags_internet_and_netlink_sockets_and_allows_unix_ones() {
    let trace = "\
100 socketpair(AF_UNIX, SOCK_STREAM|SOCK_CLOEXEC, 0, [6, 7]) = 0
101 socket(AF_UNIX, SOCK_STREAM|SOCK_CLOEXEC|SOCK_NONBLOCK, 0) = 15
101 connect(15, {sa_family=AF_UNIX, sun_path=\"/var/run/nscd/socket\"}, 110) = -1 ENOENT
102 socket(AF_INET6, SOCK_DGRAM, IPPROTO_IP) = 15
103 socket(AF_NETLINK, SOCK_RAW|SOCK_CLOEXEC, NETLINK_ROUTE) = 3
106 socket(AF_NETLINK, SOCK_RAW|SOCK_CLOEXEC, NETLINK_ROUTE <unfinished ...>
107 socket(AF_NETLINK, SOCK_RAW|SOCK_CLOEXEC, NETLINK_AUDIT) = 4
104 connect(16, {sa_family=AF_INET, sin_port=htons(53), sin_addr=inet_addr(\"10.0.0.53\")}, 16 <unfinished ...>
104 <... connect resumed>) = -1 ENETUNREACH (Network is unreachable)
105 +++ exited with 0 +++";
    let found = violations(trace, Allow::UnixOnly);
    assert_eq!(found.len(), 5, "{found:#?}");
    assert!(found[0].contains("AF_INET6"));
    assert!(found[1..4].iter().all(|l| l.contains("AF_NETLINK")));
    assert!(found[4].contains("htons(53)"));
    // The desktop app's policy lets route netlink through (also from a split
    // line), and nothing else: not another netlink protocol, not the internet.
    let found = violations(trace, Allow::UnixAndRouteNetlink);
    assert_eq!(found.len(), 3, "{found:#?}");
    assert!(found[0].contains("AF_INET6"));
    assert!(found[1].contains("NETLINK_AUDIT"));
    assert!(found[2].contains("htons(53)"));
}
