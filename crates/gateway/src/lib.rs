//! The gateway terminals connect to: a TCP listener speaking CUP POS frames.
//!
//! # Layout
//! - [`GatewayConfig`]: every limit, named.
//! - [`Dispatch`]: the one interface through which requests reach the platform; the card, QR and
//!   settlement issues implement it. [`NetworkManagement`] answers echo tests and refuses the rest.
//! - [`serve`]: the accept loop and one task per connection.
//! - [`reply_to`]: builds a reply that echoes what a terminal matches on.
//!
//! # What happens to a frame
//! 1. The 2-byte length is read and checked before anything else is read: a frame over
//!    [`GatewayConfig::frame_len_max`], or one whose TPDU is not `0x60…`, cannot be answered at
//!    all: the connection is closed and the peer address logged.
//! 2. The message is unpacked. If that fails but the frame's header was fine, the reply carries
//!    response code 30 (format error), echoing whatever fields were read before the fault.
//! 3. An unknown MTI gets response code 40 (function not supported) from the gateway itself. A
//!    financial or settlement MTI (0100, 0200, 0220, 0320, 0500) with a processing code or 60.1
//!    the profile does not know is classified `Transaction::NotSupported` and goes to the
//!    dispatcher, which answers 40 too but under the terminal's MAC key (a terminal that checks
//!    MACs would otherwise reverse a request the host never processed).
//! 4. Anything else goes to the [`Dispatch`], and its reply goes back with the TPDU addresses
//!    swapped. Replies may leave in a different order than requests came (terminals match them by
//!    TID and STAN); each connection has at most [`GatewayConfig::in_flight_max`] requests in
//!    flight and stops reading until one finishes.
//!
//! # Architecture invariant
//! A bad, slow or hostile connection only ever hurts itself: errors are handled inside its task,
//! every read and write has a timeout, and every buffer is bounded. The accept loop never fails.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc, watch};
use xingtong_iso8583::cup::{self, Transaction};
use xingtong_iso8583::{FRAME_LEN_MAX, Frame, Message, ResponseCode, Tpdu};

/// Every limit of the gateway.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// Connections served at once; further terminals wait in the TCP backlog.
    pub connections_max: usize,
    /// Requests of one connection being processed at once.
    pub in_flight_max: usize,
    /// A connection that sends nothing for this long is closed.
    pub idle_timeout: Duration,
    /// The longest a frame may be (after its length prefix).
    pub frame_len_max: usize,
    /// A reply not written within this long closes the connection.
    pub write_timeout: Duration,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            connections_max: 4_096,
            in_flight_max: 32,
            idle_timeout: Duration::from_secs(300),
            frame_len_max: FRAME_LEN_MAX,
            write_timeout: Duration::from_secs(10),
        }
    }
}

/// A request that arrived whole and parsed.
#[derive(Debug, Clone)]
pub struct Request {
    /// Who sent it.
    pub peer: SocketAddr,
    /// Its routing, to be swapped in the reply.
    pub tpdu: Tpdu,
    /// Its application header.
    pub header: [u8; 6],
    /// The message.
    pub message: Message,
    /// The message as it came, for checking its MAC.
    pub packed: Vec<u8>,
    /// What it is.
    pub transaction: Transaction,
}

/// The platform behind the gateway: takes a request, returns the reply message.
pub trait Dispatch: Send + Sync + 'static {
    /// Answers one request. Replies are packed with the CUP profile; a reply that does not pack is
    /// logged and answered with response code 96 instead.
    fn dispatch(&self, request: Request) -> impl Future<Output = Message> + Send;
}

/// Answers what needs no account, key or ledger: echo tests (0820 with 60.3 = 301). Everything else
/// is answered 40 (function not supported) until the issues that build it plug in.
#[derive(Debug, Clone, Copy, Default)]
pub struct NetworkManagement;

impl Dispatch for NetworkManagement {
    async fn dispatch(&self, request: Request) -> Message {
        match request.transaction {
            Transaction::Echo => reply_to(&request.message, ResponseCode::APPROVED),
            _ => reply_to(&request.message, ResponseCode::FUNCTION_NOT_SUPPORTED),
        }
    }
}

/// How much a connection reads at once (several pipelined frames).
pub const READ_BUFFER_BYTES: usize = 16 * 1024;

/// The fields a reply echoes from its request: what a terminal matches on and prints.
pub const ECHOED_FIELDS: [u8; 9] = [2, 3, 4, 11, 25, 41, 42, 49, 60];

/// A reply to `request` with `code` in field 39, echoing [`ECHOED_FIELDS`] (the PAN is echoed
/// only when the request carried it in field 2).
pub fn reply_to(request: &Message, code: ResponseCode) -> Message {
    let mti = request.mti.response().unwrap_or(request.mti);
    let mut reply = Message::new(mti);
    for field in ECHOED_FIELDS {
        if let Some(value) = request.get(field) {
            reply.set(field, value.to_vec());
        }
    }
    reply.set(39, code.code);
    reply
}

/// Serves terminals on `listener` until `shutdown` completes; then stops accepting, lets every
/// connection finish the requests it has in flight, and returns.
pub async fn serve<D: Dispatch>(
    listener: TcpListener,
    dispatch: Arc<D>,
    config: GatewayConfig,
    shutdown: impl Future<Output = ()> + Send,
) {
    let connections = Arc::new(Semaphore::new(config.connections_max));
    let (stop, stopped) = watch::channel(false);
    let config = Arc::new(config);
    let mut tasks = tokio::task::JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            () = &mut shutdown => break,
            permit = Arc::clone(&connections).acquire_owned() => permit.expect("the semaphore is never closed"),
        };
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(error) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(%error, "accepting a terminal connection failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let (dispatch, config, stopped) = (Arc::clone(&dispatch), Arc::clone(&config), stopped.clone());
        metrics::gauge!("xingtong_gateway_connections").increment(1.0);
        tasks.spawn(async move {
            connection(stream, peer, dispatch, &config, stopped).await;
            metrics::gauge!("xingtong_gateway_connections").decrement(1.0);
            drop(permit);
        });
        // Reap finished connections so the set does not grow without bound.
        while tasks.try_join_next().is_some() {}
    }
    let _ = stop.send(true);
    while tasks.join_next().await.is_some() {}
}

/// Why a connection ended.
#[derive(Debug)]
enum Closed {
    Eof,
    Idle,
    Shutdown,
    Unreadable(String),
    Io(std::io::Error),
}

async fn connection<D: Dispatch>(
    stream: TcpStream,
    peer: SocketAddr,
    dispatch: Arc<D>,
    config: &GatewayConfig,
    mut stopped: watch::Receiver<bool>,
) {
    let (reader, mut writer) = stream.into_split();
    // Pipelining terminals send many frames at once: read them with one system call, not two each.
    let mut reader = tokio::io::BufReader::with_capacity(READ_BUFFER_BYTES, reader);
    let (replies, mut outbox) = mpsc::channel::<Vec<u8>>(config.in_flight_max);
    let write_timeout = config.write_timeout;
    let writer_task = tokio::spawn(async move {
        while let Some(mut bytes) = outbox.recv().await {
            // Replies that are ready together go out in one write.
            while let Ok(more) = outbox.try_recv() {
                bytes.extend_from_slice(&more);
            }
            match tokio::time::timeout(write_timeout, writer.write_all(&bytes)).await {
                Ok(Ok(())) => {}
                Ok(Err(error)) => return Err(error),
                Err(_) => return Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "writing a reply timed out")),
            }
        }
        writer.shutdown().await
    });
    let in_flight = Arc::new(Semaphore::new(config.in_flight_max));
    let closed = loop {
        let frame = tokio::select! {
            changed = stopped.changed() => {
                if changed.is_err() || *stopped.borrow() { break Closed::Shutdown } else { continue }
            }
            frame = read_frame(&mut reader, config) => frame,
        };
        let frame = match frame {
            Ok(frame) => frame,
            Err(closed) => break closed,
        };
        metrics::counter!("xingtong_gateway_frames_total").increment(1);
        let permit = Arc::clone(&in_flight).acquire_owned().await.expect("the semaphore is never closed");
        let (dispatch, replies) = (Arc::clone(&dispatch), replies.clone());
        let received = std::time::Instant::now();
        tokio::spawn(async move {
            let reply = answer(frame, peer, dispatch.as_ref()).await;
            metrics::histogram!("xingtong_gateway_answer_seconds").record(received.elapsed().as_secs_f64());
            // The writer has gone only if the connection broke; the reply has nowhere to go then.
            let _ = replies.send(reply).await;
            drop(permit);
        });
    };
    // Let requests in flight finish and their replies go out, then close.
    let _ = Arc::clone(&in_flight).acquire_many_owned(config.in_flight_max as u32).await;
    drop(replies);
    let written = writer_task.await;
    match closed {
        Closed::Eof | Closed::Shutdown => tracing::debug!(%peer, "terminal connection closed"),
        Closed::Idle => tracing::info!(%peer, "terminal connection idle; closed"),
        Closed::Unreadable(why) => {
            metrics::counter!("xingtong_gateway_unreadable_frames_total").increment(1);
            tracing::warn!(%peer, reason = %why, "unreadable frame; connection closed");
        }
        Closed::Io(error) => tracing::info!(%peer, %error, "terminal connection failed"),
    }
    if let Ok(Err(error)) = written {
        tracing::info!(%peer, %error, "writing to the terminal failed");
    }
}

/// Reads one whole frame: the length first, checked against the limit, then exactly that much.
async fn read_frame(
    reader: &mut tokio::io::BufReader<tokio::net::tcp::OwnedReadHalf>,
    config: &GatewayConfig,
) -> Result<Frame, Closed> {
    let mut prefix = [0u8; 2];
    match tokio::time::timeout(config.idle_timeout, reader.read_exact(&mut prefix)).await {
        Err(_) => return Err(Closed::Idle),
        Ok(Err(error)) if error.kind() == std::io::ErrorKind::UnexpectedEof => return Err(Closed::Eof),
        Ok(Err(error)) => return Err(Closed::Io(error)),
        Ok(Ok(_)) => {}
    }
    let len = usize::from(u16::from_be_bytes(prefix));
    Frame::check_len(len, config.frame_len_max).map_err(|e| Closed::Unreadable(e.to_string()))?;
    let mut payload = vec![0u8; len];
    match tokio::time::timeout(config.idle_timeout, reader.read_exact(&mut payload)).await {
        Err(_) => return Err(Closed::Unreadable(format!("a frame of {len} bytes did not arrive in time"))),
        Ok(Err(error)) if error.kind() == std::io::ErrorKind::UnexpectedEof => {
            return Err(Closed::Unreadable(format!("the connection ended inside a frame of {len} bytes")));
        }
        Ok(Err(error)) => return Err(Closed::Io(error)),
        Ok(Ok(_)) => {}
    }
    Frame::decode(&payload).map_err(|e| Closed::Unreadable(e.to_string()))
}

/// The reply frame for one request frame.
async fn answer<D: Dispatch>(frame: Frame, peer: SocketAddr, dispatch: &D) -> Vec<u8> {
    let spec = cup::spec();
    let reply = match Message::unpack_lenient(spec, &frame.message) {
        (Some(message), None) => match Transaction::classify(&message) {
            Ok(transaction) => {
                tracing::debug!(%peer, request = %message.describe(spec), "request");
                let request = Request {
                    peer,
                    tpdu: frame.tpdu,
                    header: frame.header,
                    packed: frame.message.clone(),
                    message,
                    transaction,
                };
                dispatch.dispatch(request).await
            }
            Err(unsupported) => {
                tracing::info!(%peer, %unsupported, "unsupported request");
                reply_to(&message, ResponseCode::FUNCTION_NOT_SUPPORTED)
            }
        },
        (partial, error) => {
            let error = error.map(|e| e.to_string()).unwrap_or_default();
            tracing::warn!(%peer, %error, "request does not parse; answered 30");
            let request =
                partial.unwrap_or_else(|| Message::new(xingtong_iso8583::Mti::new("0820").expect("a valid MTI")));
            reply_to(&request, ResponseCode::FORMAT_ERROR)
        }
    };
    let code = reply.get_str(39).unwrap_or("??").to_owned();
    metrics::counter!("xingtong_gateway_replies_total", "response_code" => code).increment(1);
    let packed = match reply.pack(spec) {
        Ok(packed) => packed,
        Err(error) => {
            tracing::error!(%peer, %error, reply = %reply.describe(spec), "a reply did not pack; answered 96");
            // Only the MTI and the code: fields that did not pack are not sent again.
            let mut fallback = Message::new(reply.mti);
            fallback.set(39, ResponseCode::SYSTEM_MALFUNCTION.code);
            fallback.pack(spec).expect("an MTI and field 39 always pack")
        }
    };
    frame.reply(packed).encode()
}
