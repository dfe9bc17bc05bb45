//! A three-node RabbitMQ cluster loses a node mid-broadcast, gets it back,
//! then loses another: Herald fails over between the nodes it is given and
//! finishes, nothing lost. This binary holds one test because it runs
//! RabbitMQ nodes on fixed ports; cargo runs test binaries one at a time.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod cluster;

use std::time::Duration;

use herald_config::BrokerUrls;
use herald_domain::{DeliveryStatus, NotificationStatus};
use herald_testkit::{TestHerald, content, emulator_config};

use cluster::Cluster;

const PEOPLE: usize = 400;

#[tokio::test]
async fn a_cluster_loses_two_nodes_mid_broadcast_and_nothing_is_lost() {
    let mut cluster = Cluster::start(3).await;
    assert_eq!(cluster.running_nodes(0).await.len(), 3);
    let urls = cluster.urls().into_iter().map(Into::into).collect();
    let urls = BrokerUrls::new(urls).unwrap();
    let mut config = emulator_config(PEOPLE);
    config.behaviour.global_rps = 50;
    // Some posts fail and go through the retry queues while nodes are away.
    config.behaviour.fault_rate = 0.05;
    // Slow enough that both node failures happen mid-broadcast.
    let herald = TestHerald::start(config, |s| {
        s.broker.url = urls;
        s.send.rate_per_second = 10.0;
    })
    .await;
    assert_replicated_on_every_node(&cluster, &herald.settings.broker.prefix).await;

    let people: Vec<String> = herald
        .directory_users()
        .await
        .iter()
        .take(PEOPLE)
        .map(|u| u["userPrincipalName"].as_str().unwrap().to_owned())
        .collect();
    let id = herald
        .send_to(&content("Survives losing cluster nodes"), &people)
        .await
        .unwrap();
    let delivered = |at_least: usize| {
        herald.wait_for(id, Duration::from_secs(120), move |p| {
            p.count(DeliveryStatus::Delivered) >= at_least as i64
        })
    };
    delivered(40).await;

    // Node 1 declared the queues, so it leads them all: they elect new
    // leaders, and Herald's connections to it move to the other nodes.
    cluster.ctl(0, &["stop_app"]).await;
    eprintln!("node 1 stopped");
    let now = herald.progress(id).await.count(DeliveryStatus::Delivered) as usize;
    delivered(now + 30).await;
    cluster.ctl(0, &["start_app"]).await;
    eprintln!("node 1 started");
    cluster.wait_until_not_quorum_critical(1).await;
    assert_eq!(cluster.running_nodes(2).await.len(), 3);

    let before = herald.progress(id).await;
    assert!(
        (before.count(DeliveryStatus::Delivered) as usize) < PEOPLE,
        "the broadcast ended before the second node went; lower the rate: {before:?}"
    );
    cluster.kill(1);
    eprintln!("node 2 killed");

    let progress = herald.wait_until_ended(id, Duration::from_secs(180)).await;
    assert_eq!(progress.notification.status, NotificationStatus::Sent);
    assert_eq!(
        progress.count(DeliveryStatus::Delivered),
        PEOPLE as i64,
        "{progress:?}"
    );
    let stats = herald.emulator_stats().await;
    let received = stats["activities_received"].as_u64().unwrap();
    let duplicates = stats["duplicate_activities"].as_u64().unwrap();
    assert_eq!(received - duplicates, PEOPLE as u64, "{stats}");
    assert!(
        duplicates <= 2,
        "more duplicates than node failures: {stats}"
    );
    assert!(stats["faults_injected"].as_u64().unwrap() > 0, "{stats}");
    eprintln!("{duplicates} duplicate posts");
    stop_keeping_queues(herald).await;
}

/// Stops Herald and drops its database, but leaves its queues to go with
/// the cluster: deleting a quorum queue while one of its members is down
/// waits 5 s for that member, per queue.
async fn stop_keeping_queues(mut herald: TestHerald) {
    if let Some(running) = herald.running.take() {
        running.stop().await;
    }
    herald.stop().await;
}

/// Every queue of the topology is a quorum queue with a member on each node.
async fn assert_replicated_on_every_node(cluster: &Cluster, prefix: &str) {
    let mut nodes: Vec<String> = cluster.nodes.iter().map(|n| n.name.clone()).collect();
    nodes.sort();
    let queues = cluster.queue_members(0, prefix).await;
    assert_eq!(
        queues.len(),
        herald_queue::Topology::new(prefix).all_queues().len()
    );
    for (queue, mut members) in queues {
        members.sort();
        assert!(queue.ends_with("(quorum)"), "{queue} is not replicated");
        assert_eq!(members, nodes, "{queue}");
    }
}
