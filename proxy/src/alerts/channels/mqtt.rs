//! MQTT (rumqttc): alerts as JSON on a topic, QoS 1, each send waiting for the broker's
//! PUBACK; and, optionally, a feed of request outcomes on another topic, QoS 0, dropped
//! rather than queued when the connection cannot keep up.
//!
//! One connection per channel, kept by a task that polls rumqttc's event loop (which
//! reconnects on the next poll after an error); the task ends when the channel is dropped.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use hookguard_config::MqttChannel;
use rumqttc::{AsyncClient, ConnectionError, Event, MqttOptions, Packet, QoS};
use secrecy::{ExposeSecret as _, SecretString};
use tokio::sync::{mpsc, Mutex};

use super::{Notify, SEND_TIMEOUT};
use crate::alerts::rules::Notification;

/// Requests rumqttc may hold before `try_publish` refuses (the outcome feed's bound).
const QUEUE: usize = 1024;

pub(crate) struct Mqtt {
    client: AsyncClient,
    topic: String,
    /// PUBACKs seen by the connection task; one send at a time waits for its own.
    acks: Mutex<mpsc::Receiver<u16>>,
}

impl Mqtt {
    /// Starts connecting to the broker (in the current tokio runtime).
    pub(crate) fn connect(
        spec: &MqttChannel,
        password: Option<SecretString>,
    ) -> Result<Self, String> {
        let (host, port) = spec
            .broker
            .rsplit_once(':')
            .and_then(|(h, p)| Some((h.trim_matches(['[', ']']), p.parse::<u16>().ok()?)))
            .ok_or_else(|| format!("mqtt.broker: {:?} is not host:port", spec.broker))?;
        let mut options = MqttOptions::new(spec.client_id.clone(), host, port);
        options.set_keep_alive(Duration::from_secs(30));
        if let Some(user) = &spec.username {
            let password = password
                .as_ref()
                .map(|p| p.expose_secret().to_owned())
                .unwrap_or_default();
            options.set_credentials(user.clone(), password);
        }
        let (client, mut eventloop) = AsyncClient::new(options, QUEUE);
        let (ack_tx, ack_rx) = mpsc::channel(64);
        let broker = spec.broker.clone();
        tokio::spawn(async move {
            let mut failing = false;
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::PubAck(ack))) => {
                        let _ = ack_tx.try_send(ack.pkid);
                    }
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        if failing {
                            tracing::info!(target: "hookguard::alerts", broker = %broker, "MQTT: connected again");
                        }
                        failing = false;
                    }
                    Ok(_) => {}
                    Err(ConnectionError::RequestsDone) => break,
                    Err(e) => {
                        if !failing {
                            tracing::warn!(target: "hookguard::alerts", broker = %broker, error = %e, "MQTT: connection failed; retrying every second");
                        }
                        failing = true;
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
        });
        Ok(Self {
            client,
            topic: spec.topic.clone(),
            acks: Mutex::new(ack_rx),
        })
    }

    /// The outcome feed of this connection, when the channel sets `outcomes_topic`.
    pub(crate) fn outcome_sink(&self, spec: &MqttChannel) -> Option<OutcomeSink> {
        spec.outcomes_topic.as_ref().map(|topic| OutcomeSink {
            client: self.client.clone(),
            topic: Arc::from(topic.as_str()),
        })
    }
}

#[async_trait]
impl Notify for Mqtt {
    async fn notify(&self, n: &Notification) -> Result<(), String> {
        let mut acks = self.acks.lock().await;
        while acks.try_recv().is_ok() {}
        let payload = n.to_json().to_string();
        self.client
            .publish(self.topic.as_str(), QoS::AtLeastOnce, false, payload)
            .await
            .map_err(|e| format!("MQTT: {e}"))?;
        match tokio::time::timeout(SEND_TIMEOUT, acks.recv()).await {
            Ok(Some(_)) => Ok(()),
            Ok(None) => Err("MQTT: the connection task ended".into()),
            Err(_) => Err(format!(
                "MQTT: the broker did not acknowledge within {}s",
                SEND_TIMEOUT.as_secs()
            )),
        }
    }
}

/// Publishes request outcomes, QoS 0, never waiting.
#[derive(Clone)]
pub(crate) struct OutcomeSink {
    client: AsyncClient,
    topic: Arc<str>,
}

impl OutcomeSink {
    /// Queues one message; dropped when rumqttc's queue is full.
    pub(crate) fn publish(&self, payload: Vec<u8>) {
        let _ = self
            .client
            .try_publish(&*self.topic, QoS::AtMostOnce, false, payload);
    }
}
