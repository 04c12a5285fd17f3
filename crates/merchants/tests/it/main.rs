//! The onboarding service against a real store (SQLite always; PostgreSQL too when
//! XINGTONG_TEST_POSTGRES_URL is set): activation limits, device states, concurrent approvals,
//! and notification delivery with retries, by file and by SMTP.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{Context, ensure};
use xingtong_merchants::applications::Approval;
use xingtong_merchants::devices::{ActivationRequest, DeviceStatus};
use xingtong_merchants::identity::Registration;
use xingtong_merchants::notify::{FileTransport, Outgoing, Sending, SmtpTransport, Transport};
use xingtong_merchants::{Merchants, Principal, Role};
use xingtong_onboarding::application::{Applicant, Application, Business, BusinessType, SettlementAccount};
use xingtong_onboarding::documents::{DocumentKind, fixtures};
use xingtong_store::{Database, Store, StoreOptions};

const POSTGRES_URL_VAR: &str = "XINGTONG_TEST_POSTGRES_URL";

struct World {
    merchants: Merchants,
    staff: Principal,
    _dir: tempfile::TempDir,
    /// The PostgreSQL schema this world made (URL, name), dropped with it.
    schema: Option<(String, String)>,
}

impl Drop for World {
    fn drop(&mut self) {
        if let Some((url, schema)) = self.schema.take() {
            // On a thread of its own: the synchronous client cannot start its runtime in the test's.
            let _ = std::thread::spawn(move || xingtong_store::postgres::drop_schema(&url, &schema)).join();
        }
    }
}

async fn world_on(database: Option<&str>) -> anyhow::Result<World> {
    let dir = tempfile::tempdir()?;
    let mut made = None;
    let database = match database {
        None => Database::Sqlite { data_dir: dir.path().into() },
        Some(url) => {
            let schema = format!("merchants_{:016x}", rand::random::<u64>());
            made = Some((url.to_owned(), schema.clone()));
            Database::Postgres { url: url.into(), schema: Some(schema) }
        }
    };
    let store = Store::open(StoreOptions::new(database)).await?.store;
    let key = xingtong_merchants::load_or_create_master_key(&dir.path().join("master.key"))?;
    let config = xingtong_merchants::Config { activation_kdf_iterations: 1_000, ..Default::default() };
    let staff = Principal::Staff { id: "test".into(), roles: Role::ALL.to_vec() };
    Ok(World { merchants: Merchants::new(store, key, config), staff, _dir: dir, schema: made })
}

/// Every backend this run can reach.
async fn worlds() -> anyhow::Result<Vec<World>> {
    let mut worlds = vec![world_on(None).await?];
    if let Ok(url) = std::env::var(POSTGRES_URL_VAR)
        && !url.is_empty()
    {
        worlds.push(world_on(Some(&url)).await?);
    }
    Ok(worlds)
}

fn form(name: &str, phone: &str) -> Application {
    Application {
        applicant: Applicant {
            legal_name: name.into(),
            resident_id: "11010519491231002X".into(),
            phone: phone.into(),
            email: format!("{phone}@example.cn"),
            address: "上海市黄浦区南京东路1号".into(),
        },
        business: Business {
            name: format!("{name}小吃店"),
            business_type: BusinessType::Individual,
            unified_social_credit_code: None,
        },
        settlement_account: SettlementAccount {
            card_number: "6222021234567890128".into(),
            bank_name: "中国银行".into(),
            account_holder: name.into(),
        },
        delivery_address: "上海市黄浦区南京东路1号".into(),
    }
}

/// An owner with a submitted, reviewed application: (owner, application id).
async fn under_review(world: &World, name: &str, phone: &str) -> anyhow::Result<(Principal, String)> {
    let m = &world.merchants;
    let (user, _) = m
        .register_owner(Registration {
            name: name.into(),
            phone: phone.into(),
            email: None,
            password: "a long enough password".into(),
            language: Some("en".into()),
        })
        .await?;
    let owner = Principal::Owner { user_id: user.id, merchant_ids: Vec::new() };
    let application = m.create_application(&owner, form(name, phone)).await?;
    let id = application.value.id;
    for kind in DocumentKind::required_for(BusinessType::Individual) {
        m.upload_document(&owner, &id, kind, "doc.jpg", Some("image/jpeg"), fixtures::jpeg(640, 480)).await?;
    }
    m.submit_application(&owner, &id).await?;
    m.start_review(&world.staff, &id).await?;
    Ok((owner, id))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_approvals_get_distinct_numbers() -> anyhow::Result<()> {
    for world in worlds().await? {
        let mut ids = Vec::new();
        for i in 0..6 {
            ids.push(under_review(&world, &format!("商户{i}"), &format!("1390000100{i}")).await?.1);
        }
        let tasks: Vec<_> = ids
            .iter()
            .map(|id| {
                let (m, staff, id) = (world.merchants.clone(), world.staff.clone(), id.clone());
                tokio::spawn(async move { m.approve_application(&staff, &id, Approval::default()).await })
            })
            .collect();
        let mut mids = std::collections::BTreeSet::new();
        let mut tids = std::collections::BTreeSet::new();
        for task in tasks {
            let (_, merchant, device) = task.await??;
            mids.insert(merchant.mid);
            tids.insert(device.tid);
        }
        ensure!(mids.len() == 6 && tids.len() == 6, "{mids:?} {tids:?}");
        ensure!(mids.iter().all(|m| m.len() == 15 && m.starts_with("89831005399")), "{mids:?}");
        // Approving twice is refused; the ledger holds two accounts per merchant and balances.
        let again = world.merchants.approve_application(&world.staff, &ids[0], Approval::default()).await;
        ensure!(again.as_ref().is_err_and(|e| e.code == "invalid_state"), "{again:?}");
        let audit = world.merchants.store().audit().await?;
        ensure!(audit.accounts == 12, "{audit:?}");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn activation_locks_after_five_wrong_codes_and_devices_move_through_their_states() -> anyhow::Result<()> {
    for world in worlds().await? {
        let m = &world.merchants;
        let (_, id) = under_review(&world, "王芳", "13900002001").await?;
        let (_, merchant, device) = m.approve_application(&world.staff, &id, Approval::default()).await?;
        let request = |code: &str| ActivationRequest {
            mid: merchant.mid.clone(),
            serial_number: device.serial_number.clone(),
            activation_code: code.into(),
        };
        // Not shipped yet: the right code is refused, and no try is spent.
        let code = device.activation_code.clone().context("a code")?;
        let early = m.activate(request(&code)).await;
        ensure!(early.as_ref().is_err_and(|e| e.code == "device_not_shipped"), "{early:?}");
        m.ship_device(&world.staff, &device.tid, Some("SF1")).await?;
        for _ in 0..5 {
            let refused = m.activate(request("1111111111111111")).await;
            ensure!(refused.as_ref().is_err_and(|e| e.code == "activation_refused"), "{refused:?}");
        }
        let locked = m.activate(request(&code)).await;
        ensure!(
            locked.as_ref().is_err_and(|e| e.code == "activation_locked"),
            "even the right code, once locked: {locked:?}"
        );
        let reissued = m.reissue_activation_code(&world.staff, &device.tid).await?;
        let new_code = reissued.value.activation_code.clone().context("a new code")?;
        ensure!(new_code != code);
        let old = m.activate(request(&code)).await;
        ensure!(old.is_err(), "the old code is void");
        let activation = m.activate(request(&new_code)).await?;
        ensure!(activation.tid == device.tid);

        // The stored TMK is the delivered one.
        let bound = m.device(&world.staff, &device.tid).await?;
        ensure!(bound.value.status == DeviceStatus::Bound);
        let tmk = m.device_tmk(&bound.value)?.context("a TMK")?;
        ensure!(hex::encode_upper(tmk.check_value()) == activation.tmk_check_value);

        // A sale below the activation amount does not activate; one at it does, once.
        ensure!(!m.mark_activated(&device.tid, 29_899).await?);
        ensure!(m.mark_activated(&device.tid, 29_900).await?);
        ensure!(m.mark_activated(&device.tid, 1).await?, "stays activated");
        let activations = m.store().audit_log(Some(("device".into(), device.tid.clone())), 0, 100).await?;
        ensure!(activations.iter().filter(|e| e.action == "device.activated").count() == 1, "activated once");
        let suspended = m.suspend_device(&world.staff, &device.tid).await?;
        ensure!(suspended.value.status == DeviceStatus::Suspended);
        let refused = m.activate(request(&new_code)).await;
        ensure!(refused.is_err());
        let resumed = m.resume_device(&world.staff, &device.tid).await?;
        ensure!(resumed.value.status == DeviceStatus::Activated);
        let states: Vec<DeviceStatus> = resumed.value.history.iter().map(|s| s.status).collect();
        ensure!(
            states
                == [
                    DeviceStatus::Ordered,
                    DeviceStatus::Shipped,
                    DeviceStatus::Bound,
                    DeviceStatus::Activated,
                    DeviceStatus::Suspended,
                    DeviceStatus::Activated
                ],
            "{states:?}"
        );
        // Staff without the risk role cannot suspend.
        let reviewer = Principal::Staff { id: "r".into(), roles: vec![Role::Reviewer] };
        ensure!(m.suspend_device(&reviewer, &device.tid).await.is_err_and(|e| e.code == "forbidden"));

        // Provisioning from the CLI path: bound at once, the TMK handed out in clear once.
        let provisioned = m.provision_terminal("staff:test", &merchant.mid, Some("PROV-0001"), None).await?;
        let stored = m.device(&world.staff, &provisioned.tid).await?;
        ensure!(stored.value.status == DeviceStatus::Bound);
        ensure!(m.device_tmk(&stored.value)?.context("tmk")?.check_value() == provisioned.tmk.check_value());
        let duplicate = m.provision_terminal("staff:test", &merchant.mid, Some("PROV-0001"), None).await;
        ensure!(duplicate.is_err_and(|e| e.code == "already_exists"), "a serial number is unique");
    }
    Ok(())
}

/// A transport that fails its first `failures` sends.
struct Flaky {
    failures: usize,
    calls: AtomicUsize,
    delivered: std::sync::Mutex<Vec<Outgoing>>,
}

impl Transport for Flaky {
    fn send<'a>(&'a self, message: &'a Outgoing) -> Sending<'a> {
        Box::pin(async move {
            if self.calls.fetch_add(1, Ordering::SeqCst) < self.failures {
                return Err("gateway down".to_owned());
            }
            self.delivered.lock().expect("lock").push(message.clone());
            Ok(())
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_are_retried_with_backoff_then_delivered() -> anyhow::Result<()> {
    let world = world_on(None).await?;
    let m = &world.merchants;
    under_review(&world, "Li Lei", "13900003001").await?;
    // One SMS queued (no email given): application submitted, in English.
    let flaky = Flaky { failures: 1, calls: AtomicUsize::new(0), delivered: Default::default() };
    ensure!(m.deliver_due(&flaky, 10).await? == 0, "the first attempt fails");
    let queued = m.notifications(&world.staff, &["queued"]).await?;
    ensure!(queued.len() == 1 && queued[0].value.attempts == 1);
    ensure!(queued[0].value.last_error.as_deref() == Some("gateway down"));
    let next = queued[0].value.next_attempt_at.context("rescheduled")?;
    ensure!(next > xingtong_store::now_ns(), "not due again at once");
    ensure!(m.deliver_due(&flaky, 10).await? == 0, "nothing is due before the backoff passes");
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    ensure!(m.deliver_due(&flaky, 10).await? == 1);
    let sent = m.notifications(&world.staff, &["sent"]).await?;
    ensure!(sent.len() == 1 && sent[0].value.attempts == 2 && sent[0].value.sent_at.is_some());
    let delivered = flaky.delivered.lock().expect("lock").clone();
    ensure!(delivered[0].to == "13900003001" && delivered[0].text.contains("was received"), "{delivered:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_file_transport_writes_the_outbox_and_smtp_speaks_to_a_relay() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let files = FileTransport { dir: dir.path().join("outbox") };
    let message = |channel: &str, to: &str| Outgoing {
        id: "ntf_1".into(),
        channel: channel.into(),
        to: to.into(),
        subject: "【星通】申请已提交".into(),
        text: "第一行\n.以点开头的行".into(),
    };
    files.send(&message("sms", "13800000000")).await.map_err(anyhow::Error::msg)?;
    let log = std::fs::read_to_string(dir.path().join("outbox/sms.log"))?;
    ensure!(log.contains("13800000000") && log.ends_with('\n'));

    // A relay that records what it is told.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?.to_string();
    let received = Arc::new(std::sync::Mutex::new(String::new()));
    let transcript = Arc::clone(&received);
    tokio::spawn(async move {
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
        let Ok((stream, _)) = listener.accept().await else { return };
        let (read, mut write) = stream.into_split();
        let mut lines = BufReader::new(read).lines();
        let _ = write.write_all(b"220 relay ready\r\n").await;
        let mut in_data = false;
        while let Ok(Some(line)) = lines.next_line().await {
            transcript.lock().expect("lock").push_str(&format!("{line}\n"));
            let reply: &[u8] = if in_data {
                if line == "." {
                    in_data = false;
                    b"250 queued\r\n"
                } else {
                    continue;
                }
            } else if line.starts_with("EHLO") {
                b"250-relay\r\n250 8BITMIME\r\n"
            } else if line == "DATA" {
                in_data = true;
                b"354 go on\r\n"
            } else if line == "QUIT" {
                b"221 bye\r\n"
            } else {
                b"250 ok\r\n"
            };
            let _ = write.write_all(reply).await;
        }
    });
    let smtp = SmtpTransport { address, from: "noreply@xingtong.test".into(), files };
    smtp.send(&message("email", "owner@example.cn")).await.map_err(anyhow::Error::msg)?;
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let transcript = received.lock().expect("lock").clone();
    ensure!(transcript.contains("MAIL FROM:<noreply@xingtong.test>"), "{transcript}");
    ensure!(transcript.contains("RCPT TO:<owner@example.cn>"), "{transcript}");
    ensure!(transcript.contains("Subject: =?UTF-8?B?"), "{transcript}");
    ensure!(transcript.contains("\n..以点开头的行\n"), "dot-stuffed: {transcript}");
    // SMS still go to the file.
    smtp.send(&message("sms", "13800000001")).await.map_err(anyhow::Error::msg)?;
    ensure!(std::fs::read_to_string(dir.path().join("outbox/sms.log"))?.contains("13800000001"));
    // A relay that is not there is an error to retry, not a panic.
    let nowhere = SmtpTransport {
        address: "127.0.0.1:1".into(),
        from: "x@y".into(),
        files: FileTransport { dir: dir.path().into() },
    };
    ensure!(nowhere.send(&message("email", "a@b.cn")).await.is_err());
    Ok(())
}
