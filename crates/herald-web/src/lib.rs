//! Herald's HTTP face. Today: the bot endpoint `POST /api/messages`, which
//! authenticates every request as the Bot Framework requires, keeps the
//! conversation directory current from install activities, welcomes new
//! users and answers their commands. It never calls Graph.

mod activity;
mod auth;
mod bot;
mod keys;

use std::net::SocketAddr;
use std::sync::Arc;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, dev::ServerHandle, web};

pub use auth::{AuthFailure, BotAuthenticator, PUBLIC_CLOUD_ISSUER, VerifiedToken};
pub use bot::{Bot, BotSettings};
pub use keys::KeyRefresh;

/// Bodies larger than this are refused with 413; activities are small.
pub const MAX_ACTIVITY_BYTES: usize = 256 * 1024;

pub struct WebServer {
    pub address: SocketAddr,
    handle: ServerHandle,
}

impl WebServer {
    pub async fn stop(self) {
        self.handle.stop(true).await;
    }
}

pub fn serve(listen: SocketAddr, bot: Arc<Bot>) -> std::io::Result<WebServer> {
    let bot = web::Data::from(bot);
    let server = HttpServer::new(move || {
        App::new()
            .wrap(tracing_actix_web::TracingLogger::default())
            .app_data(bot.clone())
            .app_data(web::PayloadConfig::new(MAX_ACTIVITY_BYTES))
            .route("/api/messages", web::post().to(messages))
    })
    .workers(2)
    .disable_signals()
    .bind(listen)?;
    let address = server.addrs().first().copied().unwrap_or(listen);
    let server = server.run();
    let handle = server.handle();
    tokio::spawn(server);
    Ok(WebServer { address, handle })
}

async fn messages(bot: web::Data<Bot>, request: HttpRequest, body: web::Bytes) -> HttpResponse {
    let authorization = request
        .headers()
        .get("Authorization")
        .and_then(|v| v.to_str().ok());
    bot.receive(authorization, &body).await
}
