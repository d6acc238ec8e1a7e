//! Connections per client address, capped: one address (a misbehaving sender, a slow-loris)
//! cannot hold every socket the server has. A connection past the cap is closed at once,
//! before a byte is read; the others from that address are served as usual.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

type Counts = Arc<Mutex<HashMap<IpAddr, usize>>>;

/// A listener that closes connections beyond `cap` per client address.
pub struct CappedListener {
    inner: TcpListener,
    cap: usize,
    open: Counts,
}

impl CappedListener {
    pub fn new(inner: TcpListener, cap: usize) -> Self {
        CappedListener {
            inner,
            cap: cap.max(1),
            open: Arc::default(),
        }
    }

    /// Counts the connection in, or `None` when its address is at the cap.
    fn admit(&self, ip: IpAddr) -> Option<()> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let n = open.entry(ip).or_default();
        if *n >= self.cap {
            return None;
        }
        *n += 1;
        Some(())
    }
}

impl axum::serve::Listener for CappedListener {
    type Io = Counted;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Counted, SocketAddr) {
        loop {
            // axum's own accept: it logs and backs off on errors such as EMFILE.
            let (stream, addr) = axum::serve::Listener::accept(&mut self.inner).await;
            if self.admit(addr.ip()).is_none() {
                metrics::counter!("muster_connections_refused_total").increment(1);
                drop(stream);
                continue;
            }
            let counted = Counted {
                stream,
                ip: addr.ip(),
                open: self.open.clone(),
            };
            return (counted, addr);
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

/// A connection that gives its address's slot back when it closes.
pub struct Counted {
    stream: TcpStream,
    ip: IpAddr,
    open: Counts,
}

impl Drop for Counted {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = open.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

impl AsyncRead for Counted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}
