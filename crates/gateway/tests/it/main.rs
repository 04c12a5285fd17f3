//! The gateway over real TCP on 127.0.0.1:0, talking raw bytes.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use xingtong_gateway::{GatewayConfig, NetworkManagement, serve};
use xingtong_iso8583::{Frame, Message, Mti, TPDU_ID, Tpdu, cup};

const TPDU: Tpdu = Tpdu { id: TPDU_ID, destination: [0x00, 0x06], source: [0x00, 0x01] };
const HEADER: [u8; 6] = [0x60, 0x31, 0x00, 0x31, 0x00, 0x00];

async fn start(config: GatewayConfig) -> anyhow::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    tokio::spawn(serve(listener, Arc::new(NetworkManagement), config, std::future::pending()));
    Ok(address)
}

fn echo(stan: &str) -> Message {
    let mut m = Message::new(Mti::new("0820").unwrap());
    m.set(11, stan).set(41, "12345678").set(42, "123456789012345").set(60, "00000001301");
    m
}

fn frame(message: &Message) -> Vec<u8> {
    Frame { tpdu: TPDU, header: HEADER, message: message.pack(cup::spec()).unwrap() }.encode()
}

async fn read_reply(stream: &mut TcpStream) -> anyhow::Result<Frame> {
    let mut prefix = [0u8; 2];
    tokio::time::timeout(Duration::from_secs(5), stream.read_exact(&mut prefix)).await??;
    let mut payload = vec![0u8; usize::from(u16::from_be_bytes(prefix))];
    tokio::time::timeout(Duration::from_secs(5), stream.read_exact(&mut payload)).await??;
    Ok(Frame::decode(&payload)?)
}

/// True when the server closed the connection (a read returns end of file).
async fn closed(stream: &mut TcpStream) -> bool {
    let mut byte = [0u8; 1];
    matches!(tokio::time::timeout(Duration::from_secs(5), stream.read(&mut byte)).await, Ok(Ok(0)) | Ok(Err(_)))
}

#[tokio::test]
async fn echo_is_answered_with_the_tpdu_swapped() -> anyhow::Result<()> {
    let address = start(GatewayConfig::default()).await?;
    let mut stream = TcpStream::connect(address).await?;
    stream.write_all(&frame(&echo("000123"))).await?;
    let reply = read_reply(&mut stream).await?;
    assert_eq!(reply.tpdu, Tpdu { id: TPDU_ID, destination: [0x00, 0x01], source: [0x00, 0x06] });
    assert_eq!(reply.header, HEADER);
    let message = Message::unpack(cup::spec(), &reply.message)?;
    assert_eq!(message.mti.as_str(), "0830");
    assert_eq!(
        (message.get_str(39), message.get_str(11), message.get_str(41)),
        (Some("00"), Some("000123"), Some("12345678"))
    );
    Ok(())
}

#[tokio::test]
async fn unparsable_messages_get_30_and_unknown_ones_40() -> anyhow::Result<()> {
    let address = start(GatewayConfig::default()).await?;
    let mut stream = TcpStream::connect(address).await?;
    // A sale whose bitmap names field 8, which the profile lacks: the header is fine, the message not.
    let mut bad = Message::new(Mti::new("0200").unwrap());
    bad.set(3, "000000").set(11, "000777");
    let mut packed = bad.pack(cup::spec())?;
    packed[2] |= 0x01;
    stream.write_all(&Frame { tpdu: TPDU, header: HEADER, message: packed }.encode()).await?;
    let reply = Message::unpack(cup::spec(), &read_reply(&mut stream).await?.message)?;
    assert_eq!((reply.mti.as_str(), reply.get_str(39), reply.get_str(3)), ("0210", Some("30"), Some("000000")));
    // Pure garbage after a good TPDU and header.
    stream.write_all(&Frame { tpdu: TPDU, header: HEADER, message: vec![0xFF; 12] }.encode()).await?;
    let reply = Message::unpack(cup::spec(), &read_reply(&mut stream).await?.message)?;
    assert_eq!(reply.get_str(39), Some("30"));
    // Well-formed, but no such transaction.
    let mut unknown = Message::new(Mti::new("0200").unwrap());
    unknown.set(3, "990000").set(11, "000778").set(60, "22000001000");
    stream.write_all(&frame(&unknown)).await?;
    let reply = Message::unpack(cup::spec(), &read_reply(&mut stream).await?.message)?;
    assert_eq!((reply.get_str(39), reply.get_str(11)), (Some("40"), Some("000778")));
    // And the connection still works.
    stream.write_all(&frame(&echo("000779"))).await?;
    let reply = Message::unpack(cup::spec(), &read_reply(&mut stream).await?.message)?;
    assert_eq!(reply.get_str(39), Some("00"));
    Ok(())
}

#[tokio::test]
async fn pipelined_requests_are_all_answered() -> anyhow::Result<()> {
    let address = start(GatewayConfig::default()).await?;
    let mut stream = TcpStream::connect(address).await?;
    let mut burst = Vec::new();
    for stan in 1..=20 {
        burst.extend(frame(&echo(&format!("{stan:06}"))));
    }
    stream.write_all(&burst).await?;
    let mut stans = Vec::new();
    for _ in 1..=20 {
        let reply = Message::unpack(cup::spec(), &read_reply(&mut stream).await?.message)?;
        stans.push(reply.get_str(11).unwrap().parse::<u32>()?);
    }
    stans.sort_unstable();
    assert_eq!(stans, (1..=20).collect::<Vec<_>>());
    Ok(())
}

#[tokio::test]
async fn unreadable_frames_close_only_their_own_connection() -> anyhow::Result<()> {
    let address = start(GatewayConfig::default()).await?;
    let mut healthy = TcpStream::connect(address).await?;
    // Oversized: the announced length alone is refused before anything else is read.
    let mut oversized = TcpStream::connect(address).await?;
    oversized.write_all(&[0xFF, 0xFF, 0x60, 0x00]).await?;
    assert!(closed(&mut oversized).await, "an oversized frame closes the connection");
    // A TPDU that does not start with 0x60.
    let mut bad_tpdu = TcpStream::connect(address).await?;
    let mut bytes = frame(&echo("000001"));
    bytes[2] = 0x61;
    bad_tpdu.write_all(&bytes).await?;
    assert!(closed(&mut bad_tpdu).await, "a bad TPDU closes the connection");
    // A slow connection that sends half a frame and stalls.
    let mut slow = TcpStream::connect(address).await?;
    slow.write_all(&frame(&echo("000002"))[..10]).await?;
    // Meanwhile the healthy connection is served at once.
    healthy.write_all(&frame(&echo("000003"))).await?;
    let reply = Message::unpack(cup::spec(), &read_reply(&mut healthy).await?.message)?;
    assert_eq!(reply.get_str(11), Some("000003"));
    drop(slow);
    Ok(())
}

#[tokio::test]
async fn idle_connections_are_closed() -> anyhow::Result<()> {
    let config = GatewayConfig { idle_timeout: Duration::from_millis(200), ..GatewayConfig::default() };
    let address = start(config).await?;
    let mut idle = TcpStream::connect(address).await?;
    let started = std::time::Instant::now();
    assert!(closed(&mut idle).await);
    assert!(started.elapsed() >= Duration::from_millis(150), "closed only once idle");
    Ok(())
}
