//! The Devices screen: pending, approved and revoked devices with their name, petugas seen, first and
//! last bundle and key fingerprint (as the tablet's Settings and `pendata device` show it); a device
//! opened shows its fingerprint large, to compare, and the decisions with a reason.

use egui::{Color32, RichText, Ui};
use uuid::Uuid;

use super::super::i18n::{tr, trf};
use super::super::{TOUCH, big_button, primary};
use super::field;
use crate::app::office::Office;
use crate::app::office::devices::{self, Decided, Decision, DeviceRow, DeviceState};
use crate::app::office::session::OfficeError;
use crate::app::task::{Task, Wake};
use crate::model::{Lang, Localized};

pub struct DevicesScreen {
    office: Office,
    wake: Wake,
    reading: Option<Task<Result<Vec<DeviceRow>, OfficeError>>>,
    rows: Option<Vec<DeviceRow>>,
    /// The device opened.
    pub opened: Option<Uuid>,
    pub reason: String,
    deciding: Option<Task<Result<Decided, OfficeError>>>,
    /// The last decision's outcome, or an error (and whether it is one).
    said: Option<(Localized, bool)>,
}

impl DevicesScreen {
    pub fn new(office: Office, wake: Wake) -> DevicesScreen {
        DevicesScreen {
            office,
            wake,
            reading: None,
            rows: None,
            opened: None,
            reason: String::new(),
            deciding: None,
            said: None,
        }
    }

    /// Reads the devices again (the last reading stays on screen meanwhile).
    pub fn refresh(&mut self) {
        if self.reading.is_none() {
            self.read();
        }
    }

    fn read(&mut self) {
        let office = self.office.clone();
        self.reading = Some(Task::start("devices", self.wake.clone(), move || {
            devices::list(&office)
        }));
    }

    /// Waits for the work under way (tests, screenshots).
    pub fn wait(&mut self) {
        if let Some(t) = self.deciding.as_mut()
            && let Ok(r) = t.wait()
        {
            self.deciding = None;
            self.decided(r);
        }
        if let Some(t) = self.reading.as_mut()
            && let Ok(r) = t.wait()
        {
            self.reading = None;
            self.take(r);
        }
    }

    fn take(&mut self, r: Result<Vec<DeviceRow>, OfficeError>) {
        match r {
            Ok(rows) => self.rows = Some(rows),
            Err(e) => self.said = Some((e.text(), true)),
        }
    }

    fn decided(&mut self, r: Result<Decided, OfficeError>) {
        self.said = Some(match r {
            Ok(d) => {
                self.reason.clear();
                (decided_text(&d), false)
            }
            Err(e) => (e.text(), true),
        });
        self.read();
    }

    fn poll(&mut self) {
        if self.rows.is_none() && self.reading.is_none() {
            self.read();
        }
        if let Some(r) = self.deciding.as_mut().and_then(Task::poll) {
            self.deciding = None;
            self.decided(r.unwrap_or(Err(OfficeError::Stopped)));
        }
        if let Some(r) = self.reading.as_mut().and_then(Task::poll) {
            self.reading = None;
            self.take(r.unwrap_or(Err(OfficeError::Stopped)));
        }
    }

    fn decide(&mut self, device: Uuid, decision: Decision) {
        let office = self.office.clone();
        let reason = self.reason.clone();
        self.deciding = Some(Task::start(
            "device-decision",
            self.wake.clone(),
            move || devices::decide(&office, device, decision, &reason, crate::app::now()),
        ));
    }

    pub fn ui(&mut self, ui: &mut Ui, lang: Lang) {
        self.poll();
        ui.heading(tr(lang, "office.devices.title"));
        ui.label(tr(lang, "office.devices.intro"));
        if let Some((text, err)) = &self.said {
            let color = if *err {
                Color32::from_rgb(160, 0, 0)
            } else {
                Color32::from_rgb(0, 90, 30)
            };
            ui.label(RichText::new(text.get(lang)).color(color).strong());
        }
        let Some(rows) = self.rows.take() else {
            ui.label(tr(lang, "office.reading"));
            ui.spinner();
            return;
        };
        if rows.is_empty() {
            ui.label(tr(lang, "office.devices.none"));
        }
        if let Some(d) = self.opened.and_then(|id| rows.iter().find(|d| d.id == id)) {
            self.opened_ui(ui, lang, d);
            ui.separator();
        }
        for state in [
            DeviceState::Pending,
            DeviceState::Approved,
            DeviceState::Revoked,
        ] {
            let mine: Vec<&DeviceRow> = rows.iter().filter(|d| d.state == state).collect();
            if mine.is_empty() {
                continue;
            }
            ui.add_space(6.0);
            ui.label(RichText::new(state_text(lang, state)).size(22.0).strong());
            for d in mine {
                if row_ui(ui, lang, d) {
                    self.opened = Some(d.id);
                    self.said = None;
                }
            }
        }
        self.rows = Some(rows);
    }

    /// The device opened: its fingerprint large, and the decisions it allows.
    fn opened_ui(&mut self, ui: &mut Ui, lang: Lang, d: &DeviceRow) {
        ui.group(|ui| {
            ui.heading(format!("{} ({})", d.name, d.short));
            ui.label(RichText::new(state_text(lang, d.state)).strong());
            if let Some(w) = &d.wilayah {
                ui.label(trf(lang, "office.devices.wilayah", &[("wilayah", w)]));
            }
            ui.label(tr(lang, "office.devices.compare"));
            ui.label(
                RichText::new(&d.fingerprint)
                    .monospace()
                    .size(24.0)
                    .strong(),
            );
            details_ui(ui, lang, d);
            field(
                ui,
                tr(lang, "office.devices.reason"),
                &mut self.reason,
                false,
            );
            let busy = self.deciding.is_some();
            ui.horizontal_wrapped(|ui| {
                if d.state != DeviceState::Approved
                    && d.state != DeviceState::Revoked
                    && ui
                        .add_enabled(!busy, primary(tr(lang, "office.devices.approve")))
                        .clicked()
                {
                    self.decide(d.id, Decision::Approve);
                }
                if d.state != DeviceState::Revoked
                    && ui
                        .add_enabled(
                            !busy,
                            egui::Button::new(tr(lang, "office.devices.revoke"))
                                .min_size([TOUCH * 2.0, TOUCH].into()),
                        )
                        .clicked()
                {
                    self.decide(d.id, Decision::Revoke);
                }
                if d.state == DeviceState::Revoked
                    && d.held > 0
                    && big_button(ui, tr(lang, "office.devices.discard")).clicked()
                    && !busy
                {
                    self.decide(d.id, Decision::DiscardHeld);
                }
                if big_button(ui, tr(lang, "action.close")).clicked() {
                    self.opened = None;
                }
                if busy {
                    ui.spinner();
                }
            });
        });
    }
}

fn state_text(lang: Lang, s: DeviceState) -> &'static str {
    tr(
        lang,
        match s {
            DeviceState::Pending => "office.devices.pending",
            DeviceState::Approved => "office.devices.approved",
            DeviceState::Revoked => "office.devices.revoked",
        },
    )
}

fn when(t: Option<chrono::DateTime<chrono::FixedOffset>>) -> String {
    t.map_or_else(|| "–".into(), |t| t.format("%d-%m-%Y %H:%M").to_string())
}

fn details_ui(ui: &mut Ui, lang: Lang, d: &DeviceRow) {
    // A device not yet approved has sent nothing that was read: what arrived, and when.
    if d.bundles == 0 {
        ui.label(trf(
            lang,
            "office.devices.held_since",
            &[
                ("held", &d.held.to_string()),
                ("since", &when(d.held_since)),
            ],
        ));
        return;
    }
    let petugas = if d.petugas.is_empty() {
        "–".to_string()
    } else {
        d.petugas.join(", ")
    };
    ui.label(trf(
        lang,
        "office.devices.details",
        &[
            ("petugas", &petugas),
            ("first", &when(d.first_bundle)),
            ("last", &when(d.last_bundle)),
            ("bundles", &d.bundles.to_string()),
            ("held", &d.held.to_string()),
        ],
    ));
}

/// One device in the list; returns whether it was tapped open.
fn row_ui(ui: &mut Ui, lang: Lang, d: &DeviceRow) -> bool {
    let mut open = false;
    ui.group(|ui| {
        ui.set_width(ui.available_width());
        ui.horizontal_wrapped(|ui| {
            let text = format!("{} ({})", d.name, d.short);
            if ui
                .add(
                    egui::Button::new(RichText::new(text).strong())
                        .min_size([TOUCH * 3.0, TOUCH].into()),
                )
                .clicked()
            {
                open = true;
            }
            ui.label(RichText::new(&d.fingerprint).monospace());
            if let Some(w) = &d.wilayah {
                ui.label(trf(lang, "office.devices.wilayah", &[("wilayah", w)]));
            }
        });
        details_ui(ui, lang, d);
    });
    open
}

fn decided_text(d: &Decided) -> Localized {
    let n = d.bundles;
    match d.state {
        DeviceState::Approved => Localized::new(
            format!("Perangkat disetujui; {n} berkas yang ditahan digabung."),
            format!("Device approved; {n} held bundle(s) merged."),
        ),
        DeviceState::Revoked if n > 0 => Localized::new(
            format!("{n} berkas yang ditahan dibuang."),
            format!("{n} held bundle(s) discarded."),
        ),
        DeviceState::Revoked => Localized::new(
            "Perangkat dicabut: berkasnya akan ditolak.",
            "Device revoked: its bundles will be refused.",
        ),
        DeviceState::Pending => Localized::new("Selesai.", "Done."),
    }
}
