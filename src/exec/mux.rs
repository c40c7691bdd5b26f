//! A client for OpenSSH's connection-multiplexing protocol (version 4, as `ssh -S` speaks it to a
//! `ControlMaster`): one session per task on a running master, without an `ssh` process per
//! task. The session's stdin, stdout and stderr are handed to the master as file descriptors
//! over the control socket, so remote output goes straight into the attempt's log.
//!
//! This module only speaks the protocol; what a refusal or a hang-up means for an attempt is
//! the executor's business (`ssh.rs`).

use nix::sys::socket::{ControlMessage, MsgFlags, sendmsg};
use std::io::{self, IoSlice};
use std::os::fd::{AsRawFd, RawFd};
use std::path::Path;
use tokio::io::{AsyncReadExt, AsyncWriteExt, Interest};
use tokio::net::UnixStream;

const VERSION: u32 = 4;
const MSG_HELLO: u32 = 0x0000_0001;
const C_NEW_SESSION: u32 = 0x1000_0002;
const C_ALIVE_CHECK: u32 = 0x1000_0004;
const S_PERMISSION_DENIED: u32 = 0x8000_0002;
const S_FAILURE: u32 = 0x8000_0003;
const S_EXIT_MESSAGE: u32 = 0x8000_0004;
const S_ALIVE: u32 = 0x8000_0005;
const S_SESSION_OPENED: u32 = 0x8000_0006;
/// Messages from a master are small; anything bigger is not a master talking.
const MAX_PACKET: usize = 256 * 1024;

/// Why a session could not be opened.
#[derive(Debug)]
pub enum OpenError {
    /// No master answers on the socket, or it hung up before answering.
    Gone(String),
    /// The master answered and said no, in its words (the server's `MaxSessions`, say).
    Refused(String),
}

/// How a session ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    /// The remote command's exit status.
    Exit(u32),
    /// The master closed the session without an exit status: the connection or the master
    /// died, or the remote command was killed by a signal.
    Hangup,
}

/// An open session. Dropping it makes the master close the session's channel.
#[derive(Debug)]
pub struct Session {
    stream: UnixStream,
    id: u32,
}

#[derive(Default)]
struct Packet(Vec<u8>);

impl Packet {
    fn new(kind: u32) -> Packet {
        let mut p = Packet(Vec::with_capacity(256));
        p.u32(kind);
        p
    }
    fn u32(&mut self, v: u32) -> &mut Packet {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    fn string(&mut self, s: &[u8]) -> &mut Packet {
        self.u32(s.len() as u32);
        self.0.extend_from_slice(s);
        self
    }
    fn framed(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.0.len() + 4);
        out.extend_from_slice(&(self.0.len() as u32).to_be_bytes());
        out.extend_from_slice(&self.0);
        out
    }
}

/// Reads big-endian fields off a received packet.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn u32(&mut self) -> io::Result<u32> {
        let (head, rest) = self.0.split_first_chunk::<4>().ok_or_else(|| bad("a short message"))?;
        self.0 = rest;
        Ok(u32::from_be_bytes(*head))
    }
    fn string(&mut self) -> io::Result<String> {
        let n = self.u32()? as usize;
        if n > self.0.len() {
            return Err(bad("a short message"));
        }
        let (s, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(String::from_utf8_lossy(s).into_owned())
    }
}

fn bad(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("the control socket sent {what}"))
}

async fn send(stream: &mut UnixStream, p: &Packet) -> io::Result<()> {
    stream.write_all(&p.framed()).await
}

async fn receive(stream: &mut UnixStream) -> io::Result<Vec<u8>> {
    let n = stream.read_u32().await? as usize;
    if n > MAX_PACKET {
        return Err(bad("an oversized message"));
    }
    let mut body = vec![0; n];
    stream.read_exact(&mut body).await?;
    Ok(body)
}

/// Passes one file descriptor, attached to one byte, as the master expects them.
async fn send_fd(stream: &UnixStream, fd: RawFd) -> io::Result<()> {
    loop {
        stream.writable().await?;
        let sent = stream.try_io(Interest::WRITABLE, || {
            let fds = [fd];
            let cmsg = [ControlMessage::ScmRights(&fds)];
            sendmsg::<()>(stream.as_raw_fd(), &[IoSlice::new(&[0])], &cmsg, MsgFlags::MSG_NOSIGNAL, None)
                .map_err(io::Error::from)
        });
        match sent {
            Ok(1) => return Ok(()),
            Ok(_) => return Err(bad("a short write")),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Connects and exchanges hellos.
async fn connect(path: &Path) -> io::Result<UnixStream> {
    let mut stream = UnixStream::connect(path).await?;
    let mut hello = Packet::new(MSG_HELLO);
    hello.u32(VERSION);
    send(&mut stream, &hello).await?;
    let body = receive(&mut stream).await?;
    let mut r = Reader(&body);
    if r.u32()? != MSG_HELLO {
        return Err(bad("no hello"));
    }
    let version = r.u32()?;
    if version != VERSION {
        return Err(bad(&format!("protocol version {version}, not {VERSION}")));
    }
    Ok(stream)
}

/// Opens a session running `command` (a remote shell command line) on the master listening at
/// `path`, with `stdio` as its stdin, stdout and stderr (blocking descriptors; the master keeps
/// its own copies, the caller may close these once this returns).
pub async fn open(path: &Path, command: &str, stdio: [RawFd; 3]) -> Result<Session, OpenError> {
    let gone = |e: io::Error| OpenError::Gone(e.to_string());
    let mut stream = connect(path).await.map_err(gone)?;
    const REQUEST: u32 = 1;
    let mut p = Packet::new(C_NEW_SESSION);
    p.u32(REQUEST)
        .string(b"") // reserved
        .u32(0) // want a tty
        .u32(0) // X11 forwarding
        .u32(0) // agent forwarding
        .u32(0) // subsystem
        .u32(u32::MAX) // no escape character
        .string(b"") // terminal type
        .string(command.as_bytes());
    send(&mut stream, &p).await.map_err(gone)?;
    for fd in stdio {
        send_fd(&stream, fd).await.map_err(gone)?;
    }
    let body = receive(&mut stream).await.map_err(gone)?;
    let mut r = Reader(&body);
    let kind = r.u32().map_err(gone)?;
    let rid = r.u32().map_err(gone)?;
    if rid != REQUEST {
        return Err(gone(bad("an answer to another request")));
    }
    match kind {
        S_SESSION_OPENED => Ok(Session { id: r.u32().map_err(gone)?, stream }),
        S_FAILURE | S_PERMISSION_DENIED => Err(OpenError::Refused(r.string().map_err(gone)?)),
        other => Err(gone(bad(&format!("message type {other:#x}")))),
    }
}

impl Session {
    /// Waits for the session to end. After the exit status the master still writes what it
    /// holds of the output, then hangs up; this returns only then, so the log is complete.
    pub async fn wait(&mut self) -> Ended {
        let mut status = None;
        loop {
            let Ok(body) = receive(&mut self.stream).await else {
                break;
            };
            let mut r = Reader(&body);
            match (r.u32(), r.u32(), r.u32()) {
                (Ok(S_EXIT_MESSAGE), Ok(id), Ok(code)) if id == self.id => status = Some(code),
                _ => {}
            }
        }
        status.map_or(Ended::Hangup, Ended::Exit)
    }
}

/// Whether a master answers on `path`.
pub async fn alive(path: &Path) -> bool {
    async fn ask(path: &Path) -> io::Result<bool> {
        let mut stream = connect(path).await?;
        let mut p = Packet::new(C_ALIVE_CHECK);
        p.u32(1);
        send(&mut stream, &p).await?;
        let body = receive(&mut stream).await?;
        Ok(Reader(&body).u32()? == S_ALIVE)
    }
    matches!(ask(path).await, Ok(true))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packets_are_length_prefixed_big_endian() {
        let mut p = Packet::new(MSG_HELLO);
        p.u32(VERSION).string(b"ab");
        assert_eq!(p.framed(), [0, 0, 0, 14, 0, 0, 0, 1, 0, 0, 0, 4, 0, 0, 0, 2, b'a', b'b']);
    }

    #[test]
    fn short_messages_are_errors_not_panics() {
        let mut r = Reader(&[0, 0, 0, 9, 1]);
        assert!(r.string().is_err());
        let mut r = Reader(&[0, 0]);
        assert!(r.u32().is_err());
    }
}
