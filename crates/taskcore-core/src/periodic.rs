//! Periodic tasks (the seed's PeriodicTask extension, modelled on django-celery-beat): their
//! records, and how `apply` creates, changes, deletes and fires them.
//!
//! Firing is keyed by `(periodic task, due time)`: a scheduled fire is applied only when its due
//! time is the schedule's `next_run_at`, and applying it moves `next_run_at` on in the same step,
//! so a second command for the same run — from a deposed leader, a retried proposal, a restart —
//! is refused. Runs missed while no leader existed are caught up by one fire: `next_run_at` then
//! moves to the first time after the fire.

use serde::{Deserialize, Serialize};

use crate::schedule::{parse_tz, Compiled, Schedule};
use crate::{
    BrandId, BrandRef, CreateTask, FieldErrors, Json, Outcome, Priority, Records, Refusal,
    StorageFault, TaskState, Timestamp, UserRef,
};

/// The numeric id of a periodic task.
pub type PeriodicId = u64;

/// The writable fields of a periodic task, validated.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PeriodicSpec {
    /// Unique within the brand.
    pub name: String,
    /// The type of the tasks it creates.
    pub task_type: String,
    /// Their priority.
    pub priority: Priority,
    /// Their description.
    pub description: String,
    /// Their input.
    pub context_data: Json,
    /// Their automatic retries.
    pub max_retries: u32,
    /// Their attempt limit.
    pub timeout_minutes: u32,
    /// When it runs.
    pub schedule: Schedule,
    /// The IANA time zone cron expressions are read in.
    pub timezone: String,
    /// Whether it runs at all.
    pub enabled: bool,
    /// No run before this time.
    pub start_at: Option<Timestamp>,
    /// No run after this time.
    pub expires_at: Option<Timestamp>,
    /// Runs once, then disables itself.
    pub one_off: bool,
}

/// A change of a periodic task's writable fields; `None` leaves a field as it is.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PeriodicPatch {
    /// See [`PeriodicSpec`].
    pub name: Option<String>,
    /// See [`PeriodicSpec`].
    pub task_type: Option<String>,
    /// See [`PeriodicSpec`].
    pub priority: Option<Priority>,
    /// See [`PeriodicSpec`].
    pub description: Option<String>,
    /// See [`PeriodicSpec`].
    pub context_data: Option<Json>,
    /// See [`PeriodicSpec`].
    pub max_retries: Option<u32>,
    /// See [`PeriodicSpec`].
    pub timeout_minutes: Option<u32>,
    /// See [`PeriodicSpec`].
    pub schedule: Option<Schedule>,
    /// See [`PeriodicSpec`].
    pub timezone: Option<String>,
    /// See [`PeriodicSpec`].
    pub enabled: Option<bool>,
    /// `Some(None)` clears it.
    pub start_at: Option<Option<Timestamp>>,
    /// `Some(None)` clears it.
    pub expires_at: Option<Option<Timestamp>>,
    /// See [`PeriodicSpec`].
    pub one_off: Option<bool>,
}

/// A periodic task, as stored and replicated.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PeriodicTask {
    /// Cluster-wide id, in commit order.
    pub id: PeriodicId,
    /// Owning brand.
    pub brand: BrandRef,
    /// Who created it; its tasks are created in this user's name.
    pub created_by: UserRef,
    /// The writable fields.
    pub spec: PeriodicSpec,
    /// When it last fired.
    pub last_run_at: Option<Timestamp>,
    /// When it fires next; `None` when disabled, expired or done.
    pub next_run_at: Option<Timestamp>,
    /// Tasks it created.
    pub total_run_count: u64,
    /// Creation time.
    pub created_at: Timestamp,
    /// Last change.
    pub updated_at: Timestamp,
}

impl PeriodicTask {
    /// The first run strictly after `after`, or `None` when it is disabled, has expired or
    /// never matches again.
    pub fn next_run_after(&self, after: Timestamp) -> Option<Timestamp> {
        let s = &self.spec;
        if !s.enabled {
            return None;
        }
        let tz = parse_tz(&s.timezone).ok()?;
        let compiled = Compiled::new(&s.schedule, tz).ok()?;
        // Intervals count from `start_at` (its first run) or else from creation (one interval
        // after it); cron times simply never come before `start_at`.
        let next = match (&s.schedule, s.start_at) {
            (Schedule::Interval(_), Some(start)) => compiled.next_after(after, start)?,
            (Schedule::Interval(_), None) => compiled.next_after(after, self.created_at)?,
            (Schedule::Cron(_), start) => {
                let floor = start.map_or(after, |s| after.max(s.plus_micros(-1)));
                compiled.next_after(floor, self.created_at)?
            }
        };
        s.expires_at.is_none_or(|e| next <= e).then_some(next)
    }
}

/// A fire: a due run of the schedule, or a run-now.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FirePeriodic {
    /// The periodic task.
    pub id: PeriodicId,
    /// The scheduled run this is (its `next_run_at`), or `None` for a run-now that leaves
    /// the schedule alone.
    pub due: Option<Timestamp>,
    /// The brand of a run-now request (a scheduled fire belongs to the leader, any brand).
    pub brand: Option<BrandId>,
    /// Random `task_` id for the task, drawn by the proposer.
    pub task_id: String,
}

/// Most periodic tasks one brand may have, whatever the configuration says (the edge applies
/// the configured, usually lower, limit).
pub const MAX_PERIODIC_PER_BRAND: usize = 10_000;

fn name_taken() -> Refusal {
    let mut e = FieldErrors::default();
    e.add("name", "periodic task with this name already exists.");
    Refusal::Validation(e)
}

/// The refusal of a periodic task past a brand's `max`.
pub fn too_many_periodic(max: usize) -> Refusal {
    let mut e = FieldErrors::default();
    e.add(
        "non_field_errors",
        format!("A brand may have at most {max} periodic tasks; delete some first."),
    );
    Refusal::Validation(e)
}

impl TaskState {
    /// The periodic task `id` of `brand`, or the refusal.
    fn periodic_of(&self, id: PeriodicId, brand: BrandId) -> Result<PeriodicTask, Refusal> {
        match self.periodic.get(&id) {
            None => Err(Refusal::NotFound),
            Some(p) if p.brand.id != brand => Err(Refusal::WrongBrand),
            Some(p) => Ok(p.clone()),
        }
    }

    fn name_free(&self, brand: BrandId, name: &str, except: Option<PeriodicId>) -> bool {
        self.periodic_names
            .get(&(brand, name.to_owned()))
            .is_none_or(|&id| Some(id) == except)
    }

    /// How many periodic tasks `brand` has.
    pub fn periodic_count(&self, brand: BrandId) -> usize {
        self.periodic_names
            .range((brand, String::new())..)
            .take_while(|((b, _), _)| *b == brand)
            .count()
    }

    fn save_periodic<R: Records>(&mut self, p: PeriodicTask, rec: &mut R) -> PeriodicTask {
        rec.put_periodic(&p);
        if let Some(old) = self.periodic.insert(p.id, p.clone()) {
            self.periodic_names.remove(&(old.brand.id, old.spec.name));
        }
        self.periodic_names
            .insert((p.brand.id, p.spec.name.clone()), p.id);
        p
    }

    pub(crate) fn create_periodic<R: Records>(
        &mut self,
        brand: BrandId,
        brand_name: Option<&str>,
        created_by: &UserRef,
        spec: &PeriodicSpec,
        at: Timestamp,
        rec: &mut R,
    ) -> Outcome {
        if !self.name_free(brand, &spec.name, None) {
            return Outcome::Refused(name_taken());
        }
        if self.periodic_count(brand) >= MAX_PERIODIC_PER_BRAND {
            return Outcome::Refused(too_many_periodic(MAX_PERIODIC_PER_BRAND));
        }
        if let Err(e) = check_window(spec) {
            return Outcome::Refused(e);
        }
        let id = self.next_periodic_id.max(1);
        self.next_periodic_id = id + 1;
        let name = brand_name
            .map(str::to_owned)
            .or_else(|| self.index.brand_name(brand).map(str::to_owned))
            .unwrap_or_else(|| format!("brand-{brand}"));
        let mut p = PeriodicTask {
            id,
            brand: BrandRef { id: brand, name },
            created_by: created_by.clone(),
            spec: spec.clone(),
            last_run_at: None,
            next_run_at: None,
            total_run_count: 0,
            created_at: at,
            updated_at: at,
        };
        p.next_run_at = p.next_run_after(at);
        Outcome::Periodic(Box::new(self.save_periodic(p, rec)))
    }

    pub(crate) fn update_periodic<R: Records>(
        &mut self,
        id: PeriodicId,
        brand: BrandId,
        patch: &PeriodicPatch,
        at: Timestamp,
        rec: &mut R,
    ) -> Outcome {
        let mut p = match self.periodic_of(id, brand) {
            Ok(p) => p,
            Err(r) => return Outcome::Refused(r),
        };
        let before = p.spec.clone();
        let s = &mut p.spec;
        macro_rules! set {
            ($($field:ident),*) => {$(
                if let Some(v) = &patch.$field {
                    s.$field = v.clone();
                }
            )*};
        }
        set!(
            name,
            task_type,
            priority,
            description,
            context_data,
            max_retries,
            timeout_minutes,
            schedule,
            timezone,
            enabled,
            start_at,
            expires_at,
            one_off
        );
        if !self.name_free(brand, &p.spec.name, Some(id)) {
            return Outcome::Refused(name_taken());
        }
        if let Err(e) = check_window(&p.spec) {
            return Outcome::Refused(e);
        }
        // When the timing changes (or a paused schedule resumes), the next run is computed
        // afresh from now: a pause is not caught up.
        let timing = |s: &PeriodicSpec| {
            (
                s.schedule.clone(),
                s.timezone.clone(),
                s.enabled,
                s.start_at,
                s.expires_at,
            )
        };
        if timing(&before) != timing(&p.spec) {
            p.next_run_at = p.next_run_after(at);
        }
        p.updated_at = at;
        Outcome::Periodic(Box::new(self.save_periodic(p, rec)))
    }

    pub(crate) fn delete_periodic<R: Records>(
        &mut self,
        id: PeriodicId,
        brand: BrandId,
        rec: &mut R,
    ) -> Outcome {
        if let Err(r) = self.periodic_of(id, brand) {
            return Outcome::Refused(r);
        }
        if let Some(old) = self.periodic.remove(&id) {
            self.periodic_names.remove(&(old.brand.id, old.spec.name));
        }
        rec.delete_periodic(id);
        Outcome::PeriodicDeleted
    }

    /// Fires a periodic task: creates its task and, for a scheduled run, moves the schedule
    /// on — or refuses a run that is not the schedule's next one.
    pub(crate) fn fire_periodic<R: Records>(
        &mut self,
        f: &FirePeriodic,
        at: Timestamp,
        rec: &mut R,
    ) -> Result<Outcome, StorageFault> {
        let mut p = match (self.periodic.get(&f.id), f.brand) {
            (None, _) => return Ok(Outcome::Refused(Refusal::NotFound)),
            (Some(p), Some(b)) if p.brand.id != b => {
                return Ok(Outcome::Refused(Refusal::WrongBrand))
            }
            (Some(p), _) => p.clone(),
        };
        if let Some(due) = f.due {
            if p.next_run_at != Some(due) || due > at || !p.spec.enabled {
                return Ok(Outcome::Refused(Refusal::NotDue));
            }
        }
        let s = &p.spec;
        let create = CreateTask {
            task_id: f.task_id.clone(),
            brand: p.brand.id,
            brand_name: Some(p.brand.name.clone()),
            created_by: p.created_by.clone(),
            task_type: s.task_type.clone(),
            priority: s.priority,
            description: s.description.clone(),
            context_data: s.context_data.clone(),
            scheduled_for: f.due,
            max_retries: s.max_retries,
            timeout_minutes: s.timeout_minutes,
            periodic_task: Some(p.id),
            idempotency: None,
        };
        let task = match self.create(&create, at, rec)? {
            Outcome::Created(t) => t,
            other => return Ok(other),
        };
        p.last_run_at = Some(at);
        p.total_run_count += 1;
        if f.due.is_some() {
            if p.spec.one_off {
                p.spec.enabled = false;
            }
            // Whatever was missed is caught up by this one run: the next is in the future.
            p.next_run_at = p.next_run_after(at);
        }
        p.updated_at = at;
        let periodic = Box::new(self.save_periodic(p, rec));
        Ok(Outcome::PeriodicFired { periodic, task })
    }
}

/// `expires_at` must come after `start_at`.
fn check_window(spec: &PeriodicSpec) -> Result<(), Refusal> {
    match (spec.start_at, spec.expires_at) {
        (Some(start), Some(end)) if end <= start => {
            let mut e = FieldErrors::default();
            e.add("expires_at", "Must be later than start_at.");
            Err(Refusal::Validation(e))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests;
