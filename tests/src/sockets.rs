//! The TCP connections a process holds, read from `/proc` as an operator would with `ss -tp`:
//! how tests see from outside how many SSH sessions a worker has open to a game host.

use std::collections::HashSet;

/// The local ports of the connections process `pid` has established to `127.0.0.1:port`.
pub fn established_to(pid: u32, port: u16) -> std::io::Result<Vec<u16>> {
    let inodes = socket_inodes(pid)?;
    let remote = loopback(port);
    Ok(tcp_table(pid)?
        .into_iter()
        .filter(|s| s.remote == remote && s.established && inodes.contains(&s.inode))
        .filter_map(|s| port_of(&s.local))
        .collect())
}

/// The processes holding the server end of the loopback connection from `client_port` to
/// `server_port` (for sshd: the session's processes).
/// How many TCP connections to `127.0.0.1:port` the processes `pids` hold together, from
/// one read of the kernel's connection table: a connection one process closes while
/// another opens one is never seen twice, as reading each process's table in turn could.
pub fn established_by_any(pids: &[u32], port: u16) -> std::io::Result<usize> {
    let Some(first) = pids.first() else {
        return Ok(0);
    };
    let table = tcp_table(*first)?;
    let mut inodes = HashSet::new();
    for pid in pids {
        // A process that has exited holds nothing.
        inodes.extend(socket_inodes(*pid).unwrap_or_default());
    }
    let remote = loopback(port);
    Ok(table
        .iter()
        .filter(|s| s.remote == remote && s.established && inodes.contains(&s.inode))
        .count())
}

pub fn server_side_of(client_port: u16, server_port: u16) -> std::io::Result<Vec<u32>> {
    let (local, remote) = (loopback(server_port), loopback(client_port));
    let Some(inode) = tcp_table(std::process::id())?
        .into_iter()
        .find(|s| s.local == local && s.remote == remote && s.established)
        .map(|s| s.inode)
    else {
        return Ok(Vec::new());
    };
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc")?.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        // A process may end while we look: it holds nothing then.
        if socket_inodes(pid).is_ok_and(|inodes| inodes.contains(&inode)) {
            pids.push(pid);
        }
    }
    Ok(pids)
}

/// `/proc/net/tcp`'s spelling of `127.0.0.1:port` (IPv4 in host byte order, hex).
fn loopback(port: u16) -> String {
    format!("0100007F:{port:04X}")
}

fn port_of(address: &str) -> Option<u16> {
    u16::from_str_radix(address.rsplit(':').next()?, 16).ok()
}

/// The socket inodes among a process's open files.
fn socket_inodes(pid: u32) -> std::io::Result<HashSet<String>> {
    let mut inodes = HashSet::new();
    // A file may close while we look.
    for entry in std::fs::read_dir(format!("/proc/{pid}/fd"))?.flatten() {
        if let Ok(target) = std::fs::read_link(entry.path())
            && let Some(inode) = target
                .to_str()
                .and_then(|t| t.strip_prefix("socket:["))
                .and_then(|t| t.strip_suffix(']'))
        {
            inodes.insert(inode.to_owned());
        }
    }
    Ok(inodes)
}

struct TcpSocket {
    local: String,
    remote: String,
    established: bool,
    inode: String,
}

/// The IPv4 TCP sockets of `pid`'s network namespace (`sl local rem st … inode`).
fn tcp_table(pid: u32) -> std::io::Result<Vec<TcpSocket>> {
    let table = std::fs::read_to_string(format!("/proc/{pid}/net/tcp"))?;
    Ok(table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            Some(TcpSocket {
                local: (*f.get(1)?).to_owned(),
                remote: (*f.get(2)?).to_owned(),
                established: *f.get(3)? == "01",
                inode: (*f.get(9)?).to_owned(),
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_ends_of_a_connection_of_our_own_are_found() -> std::io::Result<()> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let before = established_to(std::process::id(), port)?;
        let client = std::net::TcpStream::connect(("127.0.0.1", port))?;
        let _server = listener.accept()?;
        let client_port = client.local_addr()?.port();
        assert_eq!(before, Vec::<u16>::new());
        assert_eq!(established_to(std::process::id(), port)?, vec![client_port]);
        assert_eq!(server_side_of(client_port, port)?, vec![std::process::id()]);
        Ok(())
    }
}
