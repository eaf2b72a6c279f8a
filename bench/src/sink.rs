//! Wire sinks for the broadcast benchmark (R7): receivers that speak the
//! agent's protocol with the device's real certificate, check every
//! picture as the agent's service does (`check_layered_update`), grant
//! credit back at once, and decode nothing. Forty agents that decode a
//! 1080p film need more cores than this machine has; forty sinks in one
//! process of their own show what the teacher's side — capture, encode
//! once, fan out — delivers to a class whose computers decode their own.
//!
//! `pult-bench sink BUNDLE...` serves one sink per bundle, prints
//! `listening` once all listen and, for each broadcast that ends, one line: `NAME PICTURES SECONDS P50 P95`
//! (milliseconds from the teacher's capture to the picture checked here).

use std::path::Path;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use pult_protocol::broadcast::{
    BroadcastNews, INITIAL_CREDIT, MAX_COVER, MAX_PICTURE, MAX_VIDEO_FRAMES,
};
use pult_protocol::frame::{read_message, write_message};
use pult_protocol::message::{Feature, Hello, Reply, Request};
use pult_protocol::watch::ScreenUpdate;
use pult_screen::inspect::{PictureSize, check_layered_update};
use pult_screen::wire::tile_views;

/// `pult-bench sink BUNDLE...`: serves until killed.
pub(crate) fn main(bundles: &[std::ffi::OsString]) -> Result<()> {
    if bundles.is_empty() {
        bail!("usage: pult-bench sink BUNDLE...");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        for bundle in bundles {
            let bundle = Path::new(bundle);
            serve(bundle).with_context(|| format!("the sink for {}", bundle.display()))?;
        }
        println!("listening");
        std::future::pending::<()>().await;
        Ok(())
    })
}

/// Starts the sink of one device on its registered address.
fn serve(bundle: &Path) -> Result<()> {
    let pult_agent::bundle::Bundle { manifest, tls } = pult_agent::bundle::Bundle::load(bundle)?;
    let address = manifest
        .listen
        .context("the device has no address in the registry")?
        .socket_addr();
    let endpoint = tls.endpoint(address)?;
    let name: Arc<str> = manifest.name.into();
    tokio::spawn(async move {
        while let Some(incoming) = endpoint.accept().await {
            let Ok((config, _)) = tls.connection_config() else {
                continue;
            };
            let Ok(connecting) = incoming.accept_with(Arc::new(config)) else {
                continue;
            };
            let name = name.clone();
            tokio::spawn(async move {
                let Ok(connection) = connecting.await else {
                    return;
                };
                while let Ok((send, recv)) = connection.accept_bi().await {
                    tokio::spawn(serve_stream(send, recv, name.clone()));
                }
            });
        }
    });
    Ok(())
}

async fn serve_stream(mut send: quinn::SendStream, mut recv: quinn::RecvStream, name: Arc<str>) {
    if !matches!(read_message::<Hello>(&mut recv).await, Ok(Some(_))) {
        return;
    }
    let hello = Hello::current("pult-bench sink", &[Feature::Broadcast]);
    if write_message(&mut send, &hello).await.is_err() {
        return;
    }
    let Ok(Some(Request::Broadcast { .. })) = read_message::<Request>(&mut recv).await else {
        // The console's connection check and nothing else: done.
        let _ = send.finish();
        return;
    };
    if write_message(&mut send, &Reply::Done).await.is_err()
        || write_message(&mut send, &BroadcastNews::Credit(INITIAL_CREDIT))
            .await
            .is_err()
    {
        return;
    }
    let started = Instant::now();
    let mut pictures = 0u64;
    let mut latencies: Vec<f64> = Vec::new();
    while let Ok(Some(update)) = read_message::<ScreenUpdate>(&mut recv).await {
        if let Err(problem) = check_layered_update(
            PictureSize::new(update.width, update.height),
            tile_views(&update.tiles),
            PictureSize::new(MAX_PICTURE.0, MAX_PICTURE.1),
            MAX_COVER,
            MAX_VIDEO_FRAMES,
        ) {
            eprintln!("{name}: a picture refused: {problem}");
            return;
        }
        pictures += 1;
        if update.captured_at_micros > 0 {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_micros() as u64);
            latencies.push(now.saturating_sub(update.captured_at_micros) as f64 / 1000.0);
        }
        if write_message(&mut send, &BroadcastNews::Credit(1))
            .await
            .is_err()
        {
            break;
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    latencies.sort_by(f64::total_cmp);
    let at = |q: f64| {
        latencies
            .get(((latencies.len() as f64 - 1.0) * q).round() as usize)
            .copied()
            .unwrap_or(0.0)
    };
    println!(
        "{name} {pictures} {seconds:.3} {:.1} {:.1}",
        at(0.5),
        at(0.95)
    );
    let _ = send.finish();
}
