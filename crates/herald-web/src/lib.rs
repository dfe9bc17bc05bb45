//! Herald's HTTP face: the bot endpoint `POST /api/messages`, which
//! authenticates every request as the Bot Framework requires, keeps the
//! conversation directory current from install activities, welcomes new
//! users and answers their commands; and the staff web UI (`ui`). Its
//! handlers call library functions; none calls Graph or SQL itself.

mod activity;
mod auth;
mod bot;
mod keys;
mod receipts;
pub mod ui;
pub mod webhooks;

use std::net::SocketAddr;
use std::sync::Arc;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, dev::ServerHandle, web};

pub use auth::{AuthFailure, BotAuthenticator, PUBLIC_CLOUD_ISSUER, VerifiedToken};
pub use bot::{Bot, BotSettings};
pub use keys::KeyRefresh;
pub use receipts::Receipts;

/// Bodies larger than this are refused with 413; activities are small.
pub const MAX_ACTIVITY_BYTES: usize = 256 * 1024;

pub struct WebServer {
    pub address: SocketAddr,
    handle: ServerHandle,
    ui: Option<Arc<ui::Ui>>,
}

impl WebServer {
    /// Ends the status pages' event streams first: a graceful stop waits
    /// for open connections, and those would otherwise stay open.
    pub async fn stop(self) {
        if let Some(ui) = &self.ui {
            ui.close_streams();
        }
        self.handle.stop(true).await;
    }
}

/// Serves the bot endpoint, and the UI when given one.
pub fn serve(
    listener: std::net::TcpListener,
    bot: Arc<Bot>,
    ui: Option<Arc<ui::Ui>>,
) -> std::io::Result<WebServer> {
    let listen = listener.local_addr()?;
    let bot = web::Data::from(bot);
    let ui_handle = ui.clone();
    let ui = ui.map(web::Data::from);
    let server = HttpServer::new(move || {
        let app = App::new()
            .wrap(tracing_actix_web::TracingLogger::default())
            .app_data(bot.clone())
            .service(
                web::resource("/api/messages")
                    .app_data(web::PayloadConfig::new(MAX_ACTIVITY_BYTES))
                    .route(web::post().to(messages)),
            );
        match &ui {
            Some(ui) => app.service(
                web::scope("")
                    .app_data(ui.clone())
                    .wrap(actix_web::middleware::Compress::default())
                    .wrap(actix_web::middleware::from_fn(ui::guard))
                    .configure(ui::configure),
            ),
            None => app,
        }
    })
    .workers(4)
    .disable_signals()
    .listen(listener)?;
    let address = server.addrs().first().copied().unwrap_or(listen);
    let server = server.run();
    let handle = server.handle();
    tokio::spawn(server);
    Ok(WebServer {
        address,
        handle,
        ui: ui_handle,
    })
}

async fn messages(bot: web::Data<Bot>, request: HttpRequest, body: web::Bytes) -> HttpResponse {
    let authorization = request
        .headers()
        .get("Authorization")
        .and_then(|v| v.to_str().ok());
    bot.receive(authorization, &body).await
}
