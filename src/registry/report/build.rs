//! Counting: the report's figures from each family's state and [`Facts`], per kabupaten/kota and
//! kecamatan, the changes since the previous import's [`Snapshot`], and the snapshot to keep after this one.

use std::collections::BTreeMap;

use super::{
    Change, Facts, FamilyState, Figures, Kabupaten, Kecamatan, Names, REPORT_VERSION,
    RegistryReport, ResultCategory, SNAPSHOT_VERSION, Snapshot, SnapshotKabupaten, StateCounts,
};

impl Figures {
    fn add(&mut self, state: FamilyState, f: &Facts) {
        self.families += 1;
        self.states.add(state, 1);
        match &f.result {
            Some(code) => match self.results.get_mut(code) {
                Some(n) => *n += 1,
                None => {
                    self.results.insert(code.clone(), 1);
                }
            },
            None => self.result_unknown += 1,
        }
        self.members += u64::from(f.members.unwrap_or(0));
        self.members_present += u64::from(f.members_present.unwrap_or(0));
        let i = &mut self.indicators;
        i.earth_floor.add(f.earth_floor);
        i.no_electricity.add(f.no_electricity);
        i.no_pln_electricity.add(f.no_pln_electricity);
        i.no_own_toilet.add(f.no_own_toilet);
        i.pkh.add(f.pkh);
        i.sembako.add(f.sembako);
    }
}

fn key(code: &Option<String>) -> String {
    code.clone().unwrap_or_default()
}

fn unkey(key: &str) -> Option<String> {
    (!key.is_empty()).then(|| key.to_string())
}

/// Known codes in order, the unknown region last.
fn area_order(a: &Option<String>, b: &Option<String>) -> std::cmp::Ordering {
    a.is_none().cmp(&b.is_none()).then_with(|| a.cmp(b))
}

impl RegistryReport {
    /// Counts the families. `previous` is the snapshot of the last import, to show what changed.
    pub fn build(
        families: impl IntoIterator<Item = (FamilyState, Facts)>,
        previous: Option<&Snapshot>,
        names: &Names,
    ) -> RegistryReport {
        let mut province = Figures::default();
        let mut kabs: BTreeMap<String, (Figures, BTreeMap<String, Figures>)> = BTreeMap::new();
        for (state, mut f) in families {
            province.add(state, &f);
            // The codes move into the keys: counting does not read them.
            let kab_key = f.kabkota.take().unwrap_or_default();
            let kec_key = f.kecamatan.take().unwrap_or_default();
            let (kab, kecs) = kabs.entry(kab_key).or_default();
            kab.add(state, &f);
            kecs.entry(kec_key).or_default().add(state, &f);
        }
        if let Some(prev) = previous {
            // Areas that had families before and have none now still show, with their loss.
            for (k, p) in &prev.kabupaten {
                let (_, kecs) = kabs.entry(k.clone()).or_default();
                for kk in p.kecamatan.keys() {
                    kecs.entry(kk.clone()).or_default();
                }
            }
            for (k, (kab, kecs)) in &mut kabs {
                let p = prev.kabupaten.get(k);
                kab.change = Some(Change::between(
                    p.map(|p| p.states).unwrap_or_default(),
                    kab.states,
                ));
                for (kk, kec) in kecs.iter_mut() {
                    let before = p
                        .and_then(|p| p.kecamatan.get(kk))
                        .copied()
                        .unwrap_or_default();
                    kec.change = Some(Change::between(before, kec.states));
                }
            }
            let before = prev
                .kabupaten
                .values()
                .fold(StateCounts::default(), |a, p| a.plus(p.states));
            province.change = Some(Change::between(before, province.states));
        }

        let mut results: Vec<ResultCategory> = names
            .results
            .iter()
            .map(|(code, label)| ResultCategory {
                code: code.clone(),
                label: Some(label.clone()),
            })
            .collect();
        for code in province.results.keys() {
            if !results.iter().any(|r| &r.code == code) {
                results.push(ResultCategory {
                    code: code.clone(),
                    label: None,
                });
            }
        }

        let mut kabupaten: Vec<Kabupaten> = kabs
            .into_iter()
            .map(|(k, (figures, kecs))| {
                let mut kecamatan: Vec<Kecamatan> = kecs
                    .into_iter()
                    .map(|(kk, figures)| {
                        let code = unkey(&kk);
                        Kecamatan {
                            name: names.region(code.as_deref()),
                            code,
                            figures,
                        }
                    })
                    .collect();
                kecamatan.sort_by(|a, b| area_order(&a.code, &b.code));
                let code = unkey(&k);
                Kabupaten {
                    name: names.region(code.as_deref()),
                    code,
                    figures,
                    kecamatan,
                }
            })
            .collect();
        kabupaten.sort_by(|a, b| area_order(&a.code, &b.code));
        RegistryReport {
            version: REPORT_VERSION,
            compared: previous.is_some(),
            results,
            province,
            kabupaten,
            about: None,
        }
    }

    /// The counts to store after this import, for the next report's changes.
    pub fn snapshot(&self) -> Snapshot {
        let kabupaten = self
            .kabupaten
            .iter()
            .filter(|k| k.figures.families > 0)
            .map(|k| {
                let kecamatan = k
                    .kecamatan
                    .iter()
                    .filter(|c| c.figures.families > 0)
                    .map(|c| (key(&c.code), c.figures.states))
                    .collect();
                (
                    key(&k.code),
                    SnapshotKabupaten {
                        states: k.figures.states,
                        kecamatan,
                    },
                )
            })
            .collect();
        Snapshot {
            version: SNAPSHOT_VERSION,
            kabupaten,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{at, names, sample, share};
    use super::*;
    use FamilyState::Accepted;

    #[test]
    fn counts_match_a_hand_count() {
        let r = RegistryReport::build(sample(), None, &names());
        assert!(!r.compared);
        let p = &r.province;
        assert_eq!(p.families, 6);
        assert_eq!(
            p.states,
            StateCounts {
                accepted: 3,
                conflict: 1,
                quarantined: 2
            }
        );
        assert_eq!((p.members, p.members_present), (10, 8));
        assert_eq!(p.indicators.earth_floor, share(2, 4));
        assert_eq!(p.indicators.no_electricity, share(1, 3));
        assert_eq!(p.indicators.no_pln_electricity, share(2, 3));
        assert_eq!(p.indicators.no_own_toilet, share(1, 2));
        assert_eq!(p.indicators.pkh, share(1, 2));
        assert_eq!(p.indicators.sembako, share(1, 2));
        assert_eq!(p.indicators.earth_floor.percent(), Some(50.0));
        assert_eq!(p.change, None);
        assert_eq!(
            p.results,
            BTreeMap::from([("1".into(), 2), ("4".into(), 1), ("9".into(), 1)])
        );
        assert_eq!(p.result_unknown, 2);
        // The form's five results, then the code it does not know.
        let codes: Vec<&str> = r.results.iter().map(|c| c.code.as_str()).collect();
        assert_eq!(codes, ["1", "2", "3", "4", "5", "9"]);
        assert_eq!(
            r.results
                .first()
                .and_then(|c| c.label.as_ref())
                .map(|l| l.id.as_str()),
            Some("Terisi lengkap")
        );
        assert_eq!(r.results.last().unwrap().label, None);

        let areas: Vec<(Option<&str>, Option<&str>, u64)> = r
            .kabupaten
            .iter()
            .map(|k| (k.code.as_deref(), k.name.as_deref(), k.figures.families))
            .collect();
        assert_eq!(
            areas,
            [
                (Some("64.01"), Some("Kabupaten Paser"), 3),
                (Some("64.72"), Some("Kota Samarinda"), 2),
                (None, None, 1)
            ]
        );
        let paser = &r.kabupaten[0];
        assert_eq!(
            paser.figures.states,
            StateCounts {
                accepted: 1,
                conflict: 1,
                quarantined: 1
            }
        );
        assert_eq!(
            (paser.figures.members, paser.figures.members_present),
            (6, 5)
        );
        assert_eq!(paser.figures.indicators.earth_floor, share(1, 2));
        assert_eq!(paser.figures.indicators.sembako, share(1, 1));
        assert_eq!(paser.figures.result_unknown, 1);
        let kec: Vec<(&str, Option<&str>, u64)> = paser
            .kecamatan
            .iter()
            .map(|k| {
                (
                    k.code.as_deref().unwrap(),
                    k.name.as_deref(),
                    k.figures.families,
                )
            })
            .collect();
        assert_eq!(
            kec,
            [
                ("64.01.01", Some("Batu Sopang"), 2),
                ("64.01.02", Some("Tanjung Harapan"), 1)
            ]
        );
        let samarinda = &r.kabupaten[1].figures;
        assert_eq!(samarinda.indicators.earth_floor, share(1, 2));
        assert_eq!(samarinda.indicators.no_electricity, share(1, 1));
        assert_eq!(samarinda.indicators.pkh, share(0, 0));
        assert_eq!(samarinda.indicators.pkh.percent(), None);
    }

    #[test]
    fn changes_since_the_previous_snapshot() {
        // Before: the first two Paser families accepted, and one family in Kutai Barat (64.07).
        let before = vec![
            (Accepted, at("64.01.01")),
            (Accepted, at("64.01.02")),
            (Accepted, at("64.07.01")),
        ];
        let snapshot = RegistryReport::build(before, None, &names()).snapshot();
        let json = serde_json::to_string(&snapshot).unwrap();
        let snapshot: Snapshot = serde_json::from_str(&json).unwrap();

        let r = RegistryReport::build(sample(), Some(&snapshot), &names());
        assert!(r.compared);
        assert_eq!(
            r.province.change,
            Some(Change {
                families: 3,
                accepted: 0,
                conflict: 1,
                quarantined: 2
            })
        );
        let change = |code: Option<&str>| {
            r.kabupaten
                .iter()
                .find(|k| k.code.as_deref() == code)
                .and_then(|k| k.figures.change)
                .unwrap()
        };
        assert_eq!(
            change(Some("64.01")),
            Change {
                families: 1,
                accepted: -1,
                conflict: 1,
                quarantined: 1
            }
        );
        assert_eq!(change(Some("64.72")).families, 2);
        // Gone since: still listed, with nothing now.
        assert_eq!(
            change(Some("64.07")),
            Change {
                families: -1,
                accepted: -1,
                conflict: 0,
                quarantined: 0
            }
        );
        assert_eq!(change(None).quarantined, 1);
        let paser = &r.kabupaten[0];
        let kec02 = paser
            .kecamatan
            .iter()
            .find(|k| k.code.as_deref() == Some("64.01.02"))
            .unwrap();
        assert_eq!(
            kec02.figures.change,
            Some(Change {
                families: 0,
                accepted: -1,
                conflict: 1,
                quarantined: 0
            })
        );
        // The new snapshot forgets areas without families.
        let next = r.snapshot();
        assert!(!next.kabupaten.contains_key("64.07"));
        assert_eq!(next.kabupaten[""].states.quarantined, 1);
        assert_eq!(next.kabupaten["64.01"].kecamatan["64.01.01"].total(), 2);

        let text = r.to_text();
        assert!(text.contains("Perubahan sejak impor sebelumnya"), "{text}");
        let changes = text.find("Perubahan sejak impor sebelumnya").unwrap();
        let row = text[changes..]
            .lines()
            .find(|l| l.starts_with("64.07"))
            .unwrap_or_else(|| panic!("a change row for 64.07:\n{text}"));
        let figures: Vec<&str> = row.split_whitespace().rev().take(6).collect();
        assert_eq!(figures, ["0", "0", "-1", "-1", "0", "1"], "{row}");
    }
}
