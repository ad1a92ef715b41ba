//! Reconcile: observe the environment's containers (by label), diff them against the
//! plan by config hash, then execute the actions — holder first, every component as soon
//! as the components it depends on are ready, independent ones in parallel.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use futures_util::future::try_join_all;
use tokio::sync::watch;

use crate::bootstrap::Bootstrapper;
use crate::error::{Error, Result};
use crate::names;
use crate::plan::{ContainerSpec, Plan};
use crate::readiness::Prober;
use crate::runtime::{ContainerState, Observed, Runtime};
use crate::ui::{Event, Reporter};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Up to date and running.
    Keep {
        id: String,
    },
    /// Up to date but stopped.
    Start {
        id: String,
    },
    Create,
    /// Config changed (or the holder it joins was replaced): remove, then create.
    Recreate {
        old: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diff {
    pub holder: Action,
    pub components: BTreeMap<String, Action>,
    /// Containers of the environment that the plan no longer has (or duplicates).
    pub orphans: Vec<Observed>,
}

impl Diff {
    pub fn is_noop(&self) -> bool {
        matches!(self.holder, Action::Keep { .. })
            && self
                .components
                .values()
                .all(|a| matches!(a, Action::Keep { .. }))
            && self.orphans.is_empty()
    }
}

/// Pure: what to do to turn `observed` into `plan`.
pub fn diff(plan: &Plan, observed: &[Observed]) -> Diff {
    let mut by_component: HashMap<&str, &Observed> = HashMap::new();
    let mut orphans = vec![];
    for o in observed {
        let wanted = plan
            .all_containers()
            .any(|c| c.component == o.component && c.name == o.name);
        if !wanted || by_component.contains_key(o.component.as_str()) {
            orphans.push(o.clone());
        } else {
            by_component.insert(&o.component, o);
        }
    }
    let action = |spec: &ContainerSpec, force_recreate: bool| match by_component
        .get(spec.component.as_str())
    {
        None => Action::Create,
        Some(o) if force_recreate || o.config_hash != spec.config_hash() => {
            Action::Recreate { old: o.id.clone() }
        }
        Some(o) if o.state == ContainerState::Running => Action::Keep { id: o.id.clone() },
        Some(o) => Action::Start { id: o.id.clone() },
    };
    let holder = action(&plan.holder, false);
    // Components live in the holder's network namespace: a new or restarted holder
    // means a new namespace, which running components would not see.
    // A stopped holder is started again (its namespace is then new): stopped components
    // join it when they start; one still running sits in the old namespace and is
    // recreated.
    let holder_replaced = matches!(holder, Action::Create | Action::Recreate { .. });
    let holder_restarted = matches!(holder, Action::Start { .. });
    let running = |c: &ContainerSpec| {
        by_component
            .get(c.component.as_str())
            .is_some_and(|o| o.state == ContainerState::Running)
    };
    let components = plan
        .components
        .iter()
        .map(|c| {
            let force = holder_replaced || (holder_restarted && running(c));
            (c.component.clone(), action(c, force))
        })
        .collect();
    Diff {
        holder,
        components,
        orphans,
    }
}

/// One readiness signal per component: None = pending, Some(true) = ready, Some(false) =
/// failed (dependents then give up quietly; the failure itself is reported once).
type Signals = HashMap<String, watch::Sender<Option<bool>>>;

pub struct Executor<'a, R: Runtime> {
    pub rt: &'a R,
    pub plan: &'a Plan,
    pub run: &'a str,
    pub prober: &'a Prober,
    pub reporter: &'a dyn Reporter,
    pub deadline: Instant,
    /// Creates the plan's kcp objects once the component serving kcp's API is ready.
    pub bootstrap: Option<&'a Bootstrapper>,
}

/// Why `execute` failed, with the container to collect diagnostics from.
pub struct Failure {
    pub error: Error,
    pub component: Option<(String, String)>,
}

impl From<Error> for Failure {
    fn from(error: Error) -> Self {
        Failure {
            error,
            component: None,
        }
    }
}

impl<R: Runtime> Executor<'_, R> {
    pub async fn execute(&self, diff: &Diff) -> std::result::Result<(), Failure> {
        let rt = self.rt;
        // Removals first: orphans, then everything being recreated (components before
        // the holder whose namespace they use).
        let removals = diff
            .orphans
            .iter()
            .map(|o| (o.component.clone(), o.id.clone()))
            .chain(diff.components.iter().filter_map(|(c, a)| match a {
                Action::Recreate { old } => Some((c.clone(), old.clone())),
                _ => None,
            }));
        try_join_all(removals.map(|(component, id)| async move {
            self.step(&component, "remove old container", rt.remove_container(&id))
                .await
        }))
        .await?;
        if let Action::Recreate { old } = &diff.holder {
            self.step(
                names::HOLDER,
                "remove old container",
                rt.remove_container(old),
            )
            .await?;
        }

        self.volumes().await?;

        match &diff.holder {
            Action::Create | Action::Recreate { .. } => {
                let h = &self.plan.holder;
                let id = self
                    .step(names::HOLDER, "create", rt.create_container(h, self.run))
                    .await?;
                self.step(names::HOLDER, "start", rt.start_container(&id))
                    .await?;
                self.reporter.emit(Event::ComponentReady {
                    component: names::HOLDER.into(),
                    millis: 0,
                });
            }
            Action::Start { id } => {
                self.step(names::HOLDER, "start", rt.start_container(id))
                    .await?
            }
            Action::Keep { .. } => {}
        }

        let signals: Signals = self
            .plan
            .components
            .iter()
            .map(|c| (c.component.clone(), watch::channel(None).0))
            .collect();
        let tasks = self.plan.components.iter().map(|spec| {
            let signals = &signals;
            async move {
                let result = self
                    .component(spec, &diff.components[&spec.component], signals)
                    .await;
                signals[&spec.component].send_replace(Some(result.is_ok()));
                result
            }
        });
        try_join_all(tasks).await?;
        Ok(())
    }

    async fn volumes(&self) -> Result<()> {
        let existing: Vec<String> = self
            .rt
            .list_volumes(&self.plan.env)
            .await?
            .into_iter()
            .map(|v| v.name)
            .collect();
        for v in &self.plan.volumes {
            if !existing.contains(&v.name) {
                let labels = [
                    (names::LABEL_ENV, self.plan.env.as_str()),
                    (names::LABEL_COMPONENT, v.component.as_str()),
                    (names::LABEL_PROFILE, self.plan.profile.as_str()),
                    (names::LABEL_RUN, self.run),
                    (names::LABEL_VERSION, env!("CARGO_PKG_VERSION")),
                ];
                self.step(
                    &v.component,
                    "create volume",
                    self.rt.create_volume(v, &labels),
                )
                .await?;
            }
        }
        Ok(())
    }

    async fn component(
        &self,
        spec: &ContainerSpec,
        action: &Action,
        signals: &Signals,
    ) -> std::result::Result<(), Failure> {
        let name = spec.component.as_str();
        for dep in &spec.depends_on {
            let mut rx = signals[dep].subscribe();
            let state = rx
                .wait_for(|s| s.is_some())
                .await
                .map(|s| *s)
                .unwrap_or(Some(false));
            if state != Some(true) {
                return Err(Error::Internal(format!("{name}: dependency {dep} failed")).into());
            }
        }
        let start = Instant::now();
        let id = match action {
            Action::Keep { id } => id.clone(),
            Action::Start { id } => {
                self.step(name, "start", self.rt.start_container(id))
                    .await?;
                id.clone()
            }
            Action::Create | Action::Recreate { .. } => {
                if let Some(init) = &spec.init {
                    self.run_init(spec, init).await?;
                }
                let id = self
                    .step(name, "create", self.rt.create_container(spec, self.run))
                    .await?;
                self.step(name, "start", self.rt.start_container(&id))
                    .await?;
                id
            }
        };
        self.reporter.emit(Event::StepStarted {
            component: name.into(),
            step: "wait for ready".into(),
        });
        match self
            .prober
            .wait(self.rt, &id, spec.readiness.as_ref(), self.deadline)
            .await
        {
            Ok(()) => {
                // Dependents start only after the objects they may need exist.
                after_ready(self.bootstrap, self.plan, name, self.reporter)
                    .await
                    .map_err(|e| match e {
                        // A conflict the user must resolve: its own message and hint.
                        Error::Usage { .. } => Failure::from(e),
                        e => Failure {
                            error: Error::ComponentFailed {
                                component: name.into(),
                                reason: format!("was ready, but bootstrapping it failed: {e}"),
                                log_tail: String::new(),
                                saved_to: None,
                            },
                            component: Some((name.to_owned(), id.clone())),
                        },
                    })?;
                self.reporter.emit(Event::ComponentReady {
                    component: name.into(),
                    millis: millis(start.elapsed()),
                });
                Ok(())
            }
            Err(reason) => {
                self.reporter.emit(Event::StepFailed {
                    component: name.into(),
                    step: "wait for ready".into(),
                    error: reason.clone(),
                });
                Err(Failure {
                    error: Error::ComponentFailed {
                        component: name.into(),
                        reason,
                        log_tail: String::new(),
                        saved_to: None,
                    },
                    component: Some((name.to_owned(), id)),
                })
            }
        }
    }

    /// Runs `init` to completion in a one-shot copy of `spec`. It carries the run label,
    /// so a failure's rollback removes it; on success it is removed at once.
    async fn run_init(
        &self,
        spec: &ContainerSpec,
        init: &[String],
    ) -> std::result::Result<(), Failure> {
        let name = spec.component.as_str();
        let mut one = spec.clone();
        one.component = format!("{name}-init");
        one.name = format!("{}-init", spec.name);
        one.command = Some(init.to_vec());
        one.init = None;
        one.readiness = None;
        let step = format!("init: {}", init.join(" "));
        let id = self
            .step(name, &step, async {
                let id = self.rt.create_container(&one, self.run).await?;
                self.rt.start_container(&id).await?;
                Ok(id)
            })
            .await?;
        let failed = |reason: String| Failure {
            error: Error::ComponentFailed {
                component: name.into(),
                reason,
                log_tail: String::new(),
                saved_to: None,
            },
            component: Some((name.to_owned(), id.clone())),
        };
        loop {
            let l = self.rt.liveness(&id).await?;
            if matches!(l.state, ContainerState::Exited | ContainerState::Dead) {
                match l.exit_code {
                    Some(0) => break,
                    code => {
                        return Err(failed(format!(
                            "init command `{}` exited with code {}",
                            init.join(" "),
                            code.map_or("?".into(), |c| c.to_string())
                        )));
                    }
                }
            }
            if Instant::now() >= self.deadline {
                return Err(failed(format!(
                    "init command `{}` did not finish before the wait timeout",
                    init.join(" ")
                )));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        self.rt.remove_container(&id).await?;
        Ok(())
    }

    async fn step<T>(
        &self,
        component: &str,
        step: &str,
        fut: impl std::future::Future<Output = Result<T>>,
    ) -> Result<T> {
        let start = Instant::now();
        self.reporter.emit(Event::StepStarted {
            component: component.into(),
            step: step.into(),
        });
        match fut.await {
            Ok(v) => {
                self.reporter.emit(Event::StepFinished {
                    component: component.into(),
                    step: step.into(),
                    millis: millis(start.elapsed()),
                });
                Ok(v)
            }
            Err(e) => {
                self.reporter.emit(Event::StepFailed {
                    component: component.into(),
                    step: step.into(),
                    error: e.to_string(),
                });
                Err(e)
            }
        }
    }
}

/// What follows a component's readiness: kcp's objects once kcp serves, OpenFGA's
/// stores once OpenFGA does. Idempotent, so a no-op `up` runs it again.
pub async fn after_ready(
    bootstrap: Option<&Bootstrapper>,
    plan: &Plan,
    component: &str,
    reporter: &dyn Reporter,
) -> Result<()> {
    if plan.bootstrap_after.as_deref() == Some(component)
        && let Some(b) = bootstrap
    {
        run_bootstrap(b, plan, reporter).await?;
    }
    for w in plan.waits.iter().filter(|w| w.after == component) {
        if let Some(b) = bootstrap {
            b.wait_served(w).await?;
        }
    }
    if component == crate::components::openfga::NAME
        && let Some(fga) = &plan.fga
    {
        crate::fga::ensure(fga, reporter).await?;
    }
    Ok(())
}

/// Creates the plan's kcp objects that are missing.
async fn run_bootstrap(b: &Bootstrapper, plan: &Plan, reporter: &dyn Reporter) -> Result<()> {
    for obj in &plan.bootstrap {
        if b.ensure(obj).await? {
            reporter.emit(Event::Info {
                message: format!(
                    "created {} {} in {}",
                    obj.body["kind"].as_str().unwrap_or("object"),
                    obj.name,
                    obj.cluster
                ),
            });
        }
    }
    Ok(())
}

fn millis(d: Duration) -> u64 {
    d.as_millis().try_into().unwrap_or(u64::MAX)
}

/// Removes every container and volume labelled with run `run` (what one `up` created).
pub async fn rollback<R: Runtime>(rt: &R, env: &str, run: &str) -> Result<(usize, usize)> {
    let containers: Vec<Observed> = rt
        .list_containers(env)
        .await?
        .into_iter()
        .filter(|c| c.run == run)
        .collect();
    remove_containers(rt, &containers).await?;
    let volumes: Vec<String> = rt
        .list_volumes(env)
        .await?
        .into_iter()
        .filter(|v| v.run == run)
        .map(|v| v.name)
        .collect();
    for v in &volumes {
        rt.remove_volume(v).await?;
    }
    Ok((containers.len(), volumes.len()))
}

/// Removes components in parallel, then the holder (whose namespace they share).
pub async fn remove_containers<R: Runtime>(rt: &R, containers: &[Observed]) -> Result<()> {
    let (holders, others): (Vec<&Observed>, Vec<&Observed>) = containers
        .iter()
        .partition(|c| c.component == names::HOLDER);
    try_join_all(others.iter().map(|c| rt.remove_container(&c.id))).await?;
    try_join_all(holders.iter().map(|c| rt.remove_container(&c.id))).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{self, Options};
    use crate::profile;

    fn plan_with(yaml: &str) -> Plan {
        let p = profile::parse("t", yaml).unwrap();
        let opts = Options {
            env: "dev".into(),
            ..Default::default()
        };
        plan::build(
            &p,
            &opts,
            &plan::Certs::default(),
            &crate::secrets::Secrets::default(),
        )
        .unwrap()
    }

    fn observed(spec: &ContainerSpec, state: ContainerState) -> Observed {
        Observed {
            env: String::new(),
            version: String::new(),
            id: format!("id-{}", spec.component),
            name: spec.name.clone(),
            component: spec.component.clone(),
            config_hash: spec.config_hash().into(),
            run: "r0".into(),
            image: spec.image.clone(),
            state,
        }
    }

    const TWO: &str =
        "containers:\n  a:\n    image: busybox\n  b:\n    image: busybox\n    command: [x]\n";

    #[test]
    fn fresh_environment_creates_everything() {
        let plan = plan_with(TWO);
        let d = diff(&plan, &[]);
        assert_eq!(d.holder, Action::Create);
        assert!(d.components.values().all(|a| *a == Action::Create));
        assert!(!d.is_noop());
    }

    #[test]
    fn unchanged_running_environment_is_a_noop() {
        let plan = plan_with(TWO);
        let obs: Vec<_> = plan
            .all_containers()
            .map(|c| observed(c, ContainerState::Running))
            .collect();
        assert!(diff(&plan, &obs).is_noop());
    }

    #[test]
    fn changed_component_is_recreated_alone() {
        let old = plan_with(TWO);
        let obs: Vec<_> = old
            .all_containers()
            .map(|c| observed(c, ContainerState::Running))
            .collect();
        let new = plan_with(
            "containers:\n  a:\n    image: busybox\n  b:\n    image: busybox\n    command: [y]\n",
        );
        let d = diff(&new, &obs);
        assert_eq!(
            d.holder,
            Action::Keep {
                id: "id-holder".into()
            }
        );
        assert_eq!(d.components["a"], Action::Keep { id: "id-a".into() });
        assert_eq!(d.components["b"], Action::Recreate { old: "id-b".into() });
    }

    #[test]
    fn stopped_holder_is_started_and_a_missing_one_recreates_all() {
        let plan = plan_with(TWO);
        let mut obs: Vec<_> = plan
            .all_containers()
            .map(|c| observed(c, ContainerState::Running))
            .collect();
        obs[1].state = ContainerState::Exited;
        let d = diff(&plan, &obs);
        assert_eq!(d.components["a"], Action::Start { id: "id-a".into() });

        // Holder stopped (after `kcpenv stop` or an engine restart): started again; a
        // stopped component joins its new namespace when started, a running one (in the
        // old namespace) is recreated.
        obs[0].state = ContainerState::Exited;
        let d = diff(&plan, &obs);
        assert_eq!(
            d.holder,
            Action::Start {
                id: "id-holder".into()
            }
        );
        assert_eq!(d.components["a"], Action::Start { id: "id-a".into() });
        assert_eq!(d.components["b"], Action::Recreate { old: "id-b".into() });

        // Holder gone: everything is recreated.
        obs.remove(0);
        let d = diff(&plan, &obs);
        assert_eq!(d.holder, Action::Create);
        assert!(
            d.components
                .values()
                .all(|a| matches!(a, Action::Recreate { .. }))
        );
    }

    #[test]
    fn dropped_component_is_an_orphan() {
        let old = plan_with(TWO);
        let obs: Vec<_> = old
            .all_containers()
            .map(|c| observed(c, ContainerState::Running))
            .collect();
        let new = plan_with("containers:\n  a:\n    image: busybox\n");
        let d = diff(&new, &obs);
        assert_eq!(d.orphans.len(), 1);
        assert_eq!(d.orphans[0].component, "b");
        assert!(!d.is_noop());
    }
}
