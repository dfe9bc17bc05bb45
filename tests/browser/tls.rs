//! An https front for Herald in the browser tests. The Teams JavaScript
//! library opens its sign-in pop-up only at an https address (as Teams
//! shows tabs only from https), so the tab's pop-up can be tested only
//! with Herald behind TLS, as it runs in production. The front terminates
//! TLS with a self-signed certificate for 127.0.0.1 (`tls/`, for tests
//! only: its key is public; Chromium runs with
//! `--ignore-certificate-errors`) and passes the bytes on to Herald's
//! http listener unchanged, Host header and all.

use std::net::SocketAddr;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

const CERT: &[u8] = include_bytes!("tls/cert.pem");
const KEY: &[u8] = include_bytes!("tls/key.pem");

/// A bound https port, to give Herald as its public URL before it starts.
pub struct TlsFront {
    listener: TcpListener,
    pub port: u16,
}

impl TlsFront {
    pub async fn bind() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        Self { listener, port }
    }

    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    /// Serves until the test ends, forwarding each connection to `backend`.
    pub fn serve(self, backend: SocketAddr) {
        let certificate = CertificateDer::from_pem_slice(CERT).unwrap();
        let key = PrivateKeyDer::from_pem_slice(KEY).unwrap();
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![certificate], key)
            .unwrap();
        let acceptor = TlsAcceptor::from(Arc::new(config));
        tokio::spawn(async move {
            while let Ok((client, _)) = self.listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(mut client) = acceptor.accept(client).await else {
                        return;
                    };
                    let Ok(mut server) = TcpStream::connect(backend).await else {
                        return;
                    };
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                });
            }
        });
    }
}
