//! `herald send`, `status` and `cancel`: talking to a running Herald
//! through the database and the queue.

use std::time::Duration;

use anyhow::{Context, bail};
use herald_config::Settings;
use herald_domain::audience::Target;
use herald_domain::{
    Audience, Button, ChangeKind, Content, HttpsUrl, NotificationId, NotificationStatus, Title,
};
use herald_store::NewChange;

use crate::cli::{EditArgs, SendArgs};

fn content(args: &SendArgs) -> anyhow::Result<Content> {
    let mut content = Content::new(Title::parse(&args.title)?);
    content.summary = args.summary.clone();
    content.image_url = args
        .image
        .as_deref()
        .map(|u| HttpsUrl::parse("image", u).map(Into::into))
        .transpose()?;
    content.author = args.author.clone();
    content.feed_text = args.feed_text.clone();
    content.critical = args.critical;
    content.acknowledgement_required = args.acknowledge;
    for (index, button) in args.buttons.iter().enumerate() {
        let (title, url) = button
            .split_once('=')
            .with_context(|| format!("--button {button:?}: write it as TITLE=https://URL"))?;
        content.buttons.push(Button::parse(index + 1, title, url)?);
    }
    content.validate()?;
    Ok(content)
}

fn audience(specs: &[String]) -> anyhow::Result<Audience> {
    let mut targets = Vec::new();
    for spec in specs {
        let Some(path) = spec.strip_prefix("users:") else {
            targets.push(Target::parse(spec)?);
            continue;
        };
        let bytes =
            std::fs::read(path).with_context(|| format!("cannot read the audience file {path}"))?;
        let text = herald_domain::audience::list_text(path, &bytes)?;
        targets.push(Target::users_from_csv(path, &text)?);
    }
    Ok(Audience::new(targets)?)
}

pub async fn send(settings: &Settings, args: SendArgs) -> anyhow::Result<()> {
    // Everything that can be checked here is, before anything is stored.
    let content = content(&args)?;
    let audience = audience(&args.audiences)?;
    let infrastructure = herald_app::infrastructure(settings).await?;
    let store = &infrastructure.store;
    let id = herald_prepare::submit(
        store,
        &infrastructure.broker,
        &content,
        &audience,
        &args.created_by,
    )
    .await?;
    infrastructure.broker.close().await;
    println!("{id}");
    if args.no_wait {
        return Ok(());
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(300);
    loop {
        let progress = store
            .progress(id)
            .await?
            .context("the notification vanished")?;
        let notification = &progress.notification;
        if notification.status == NotificationStatus::Failed {
            bail!(
                "not sent: {}",
                notification.error.clone().unwrap_or_default()
            );
        }
        if notification.prepared || notification.status.is_final() {
            eprint!("{}", herald_app::report::progress_text(&progress));
            return Ok(());
        }
        if tokio::time::Instant::now() > deadline {
            eprintln!("still resolving the audience; follow it with: herald status {id}");
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn parse_id(id: &str) -> anyhow::Result<NotificationId> {
    id.parse().with_context(|| {
        format!("{id:?} is not a notification id (a UUID, as `herald send` printed it)")
    })
}

pub async fn status(settings: &Settings, id: &str, json: bool) -> anyhow::Result<()> {
    let id = parse_id(id)?;
    let store = herald_store::Store::connect(
        secrecy::ExposeSecret::expose_secret(&settings.database.url),
        2,
    )
    .await?;
    let progress = store
        .progress(id)
        .await?
        .with_context(|| format!("no notification {id}"))?;
    let changes = store.changes(id).await?;
    let counts = store.change_counts(id).await?;
    if json {
        let mut report = herald_app::report::progress_json(&progress);
        report["changes"] = herald_app::report::changes_json(&changes, &counts);
        println!("{report}");
    } else {
        print!("{}", herald_app::report::progress_text(&progress));
        print!("{}", herald_app::report::changes_text(&changes, &counts));
    }
    Ok(())
}

pub async fn cancel(settings: &Settings, id: &str) -> anyhow::Result<()> {
    let id = parse_id(id)?;
    let store = herald_store::Store::connect(
        secrecy::ExposeSecret::expose_secret(&settings.database.url),
        2,
    )
    .await?;
    // The status page says who canceled; this program has no person's name.
    if store.cancel_notification(id, "the command line").await? {
        println!(
            "Canceled {id}: nothing more is sent; deliveries not yet made are marked canceled."
        );
        Ok(())
    } else {
        bail!("{id} is not sending (it is unknown or has already ended)")
    }
}

pub async fn edit(settings: &Settings, args: EditArgs) -> anyhow::Result<()> {
    let id = parse_id(&args.id)?;
    let infrastructure = herald_app::infrastructure(settings).await?;
    let record = infrastructure
        .store
        .notification(id)
        .await?
        .with_context(|| format!("no notification {id}"))?;
    let mut content = record.content.clone();
    if let Some(title) = &args.title {
        content.title = Title::parse(title)?;
    }
    let optional = |text: &String| (!text.trim().is_empty()).then(|| text.clone());
    if let Some(summary) = &args.summary {
        content.summary = optional(summary);
    }
    if let Some(author) = &args.author {
        content.author = optional(author);
    }
    if content == record.content {
        bail!("nothing to change: give --title, --summary or --author with new text");
    }
    let change = NewChange {
        kind: ChangeKind::Edit,
        content: Some(&content),
        mark_edited: args.mark_edited,
        notify: args.notify,
        by: &args.by,
    };
    let started =
        herald_prepare::change(&infrastructure.store, &infrastructure.broker, id, &change).await?;
    infrastructure.broker.close().await;
    eprintln!(
        "Editing {id} (version {}): {} cards are being replaced; follow it with: herald status {id}",
        started.version,
        started.recipients.len()
    );
    Ok(())
}

pub async fn recall(
    settings: &Settings,
    id: &str,
    replace_with_notice: bool,
    by: &str,
) -> anyhow::Result<()> {
    let id = parse_id(id)?;
    let infrastructure = herald_app::infrastructure(settings).await?;
    let kind = if replace_with_notice {
        ChangeKind::Withdraw
    } else {
        ChangeKind::Recall
    };
    let change = NewChange {
        kind,
        content: None,
        mark_edited: false,
        notify: false,
        by,
    };
    let started =
        herald_prepare::change(&infrastructure.store, &infrastructure.broker, id, &change).await?;
    infrastructure.broker.close().await;
    let what = if replace_with_notice {
        "replaced by a notice"
    } else {
        "deleted"
    };
    eprintln!(
        "Recalling {id}: {} cards are being {what}; follow it with: herald status {id}",
        started.recipients.len()
    );
    Ok(())
}

pub async fn remind(settings: &Settings, id: &str, created_by: &str) -> anyhow::Result<()> {
    let id = parse_id(id)?;
    let infrastructure = herald_app::infrastructure(settings).await?;
    let reminder = herald_prepare::remind(
        &infrastructure.store,
        &infrastructure.broker,
        id,
        created_by,
    )
    .await?;
    infrastructure.broker.close().await;
    println!("{}", reminder.id);
    eprintln!(
        "Reminder sent to {} people who have not acknowledged {id}; follow it with: herald status {}",
        reminder.people, reminder.id
    );
    Ok(())
}
