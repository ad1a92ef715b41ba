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
    /// Create the plan's objects once the component serving kcp's API is ready.
    pub clients: &'a Clients,
}

/// The API clients bootstrap uses: kcp's admin, and an existing service cluster's
/// kubeconfig identity.
#[derive(Default)]
pub struct Clients {
    pub kcp: Option<Bootstrapper>,
    pub service: Option<Bootstrapper>,
    /// The existing service cluster's side, run once per `up` by whoever asks first.
    service_side: tokio::sync::OnceCell<std::result::Result<(), String>>,
}

impl Clients {
    pub fn new(kcp: Option<Bootstrapper>, service: Option<Bootstrapper>) -> Clients {
        Clients {
            kcp,
            service,
            service_side: Default::default(),
        }
    }

    /// Creates an existing service cluster's objects and waits until it serves
    /// PublishedResources. It needs nothing from kcp, so `up` starts it with the
    /// containers; kcp's bootstrap awaits it (the agent starts after that).
    pub async fn service_side(&self, plan: &Plan, reporter: &dyn Reporter) -> Result<()> {
        let (Some(side), Some(client)) = (&plan.service, &self.service) else {
            return Ok(());
        };
        self.service_side
            .get_or_init(|| async {
                for obj in &side.objects {
                    ensure_one(client, obj, reporter)
                        .await
                        .map_err(|e| e.to_string())?;
                }
                for w in &side.waits {
                    client.wait_served(w).await.map_err(|e| e.to_string())?;
                }
                Ok(())
            })
            .await
            .clone()
            .map_err(|message| Error::ServiceCluster {
                origin: side.source.clone(),
                message,
                hint: "kcpenv creates the PublishedResource CRD, the agent's namespace and the example there with the kubeconfig's credentials: use an identity with cluster-admin".into(),
            })
    }
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

        // The holder is created first (components name it as their network), then
        // started while the components' containers are created: a component waits for
        // the holder's start (and its dependencies' readiness) only before its own start.
        let holder_id = match &diff.holder {
            Action::Create | Action::Recreate { .. } => Some(
                self.step(
                    names::HOLDER,
                    "create",
                    rt.create_container(&self.plan.holder, self.run),
                )
                .await?,
            ),
            Action::Start { id } => Some(id.clone()),
            Action::Keep { .. } => None,
        };
        let holder_started = watch::channel(holder_id.is_none().then_some(true)).0;
        let start_holder = async {
            let result = match &holder_id {
                Some(id) => self
                    .step(names::HOLDER, "start", rt.start_container(id))
                    .await
                    .map(|()| {
                        self.reporter.emit(Event::ComponentReady {
                            component: names::HOLDER.into(),
                            millis: 0,
                        })
                    }),
                None => Ok(()),
            };
            holder_started.send_replace(Some(result.is_ok()));
            result.map_err(Failure::from)
        };

        let signals: Signals = self
            .plan
            .components
            .iter()
            .map(|c| (c.component.clone(), watch::channel(None).0))
            .collect();
        let tasks = self.plan.components.iter().map(|spec| {
            let signals = &signals;
            let holder_started = &holder_started;
            async move {
                let result = self
                    .component(
                        spec,
                        &diff.components[&spec.component],
                        signals,
                        holder_started,
                    )
                    .await;
                signals[&spec.component].send_replace(Some(result.is_ok()));
                result
            }
        });
        let (holder, components) = tokio::join!(start_holder, try_join_all(tasks));
        holder?;
        components?;
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
        holder_started: &watch::Sender<Option<bool>>,
    ) -> std::result::Result<(), Failure> {
        let name = spec.component.as_str();
        let wait_for = |signal: &watch::Sender<Option<bool>>, what: String| {
            let mut rx = signal.subscribe();
            async move {
                let state = rx
                    .wait_for(|s| s.is_some())
                    .await
                    .map(|s| *s)
                    .unwrap_or(Some(false));
                if state == Some(true) {
                    Ok(())
                } else {
                    Err(Failure::from(Error::Internal(format!(
                        "{name}: {what} failed"
                    ))))
                }
            }
        };
        // Before starting: the holder started, and every dependency ready.
        let ready_to_start = || async {
            wait_for(holder_started, "the holder".into()).await?;
            for dep in &spec.depends_on {
                wait_for(&signals[dep], format!("dependency {dep}")).await?;
            }
            Ok::<(), Failure>(())
        };
        let start = Instant::now();
        let id = match action {
            Action::Keep { id } => {
                ready_to_start().await?;
                id.clone()
            }
            Action::Start { id } => {
                ready_to_start().await?;
                self.step(name, "start", self.rt.start_container(id))
                    .await?;
                id.clone()
            }
            Action::Create | Action::Recreate { .. } => {
                // An init command runs in the namespace, before the container exists.
                if let Some(init) = &spec.init {
                    ready_to_start().await?;
                    self.run_init(spec, init).await?;
                }
                // Created at once (files copied in) while what it waits for starts up.
                let id = self
                    .step(name, "create", self.rt.create_container(spec, self.run))
                    .await?;
                ready_to_start().await?;
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
                after_ready(self.clients, self.plan, name, self.reporter)
                    .await
                    .map_err(|e| match e {
                        // A conflict the user must resolve: its own message and hint.
                        Error::Usage { .. } | Error::ServiceCluster { .. } => Failure::from(e),
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
    clients: &Clients,
    plan: &Plan,
    component: &str,
    reporter: &dyn Reporter,
) -> Result<()> {
    if plan.bootstrap_after.as_deref() == Some(component)
        && let Some(b) = &clients.kcp
    {
        tokio::try_join!(
            run_bootstrap(b, plan, reporter),
            clients.service_side(plan, reporter)
        )?;
    }
    for w in plan.waits.iter().filter(|w| w.after == component) {
        if let Some(b) = &clients.kcp {
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
    for wave in bootstrap_waves(&plan.bootstrap) {
        // Within a wave, each workspace's objects in plan order (a CRD before its
        // resources), the workspaces side by side.
        try_join_all(wave.into_iter().map(|objs| async move {
            for obj in objs {
                ensure_one(b, obj, reporter).await?;
            }
            Ok::<(), Error>(())
        }))
        .await?;
    }
    Ok(())
}

async fn ensure_one(
    b: &Bootstrapper,
    obj: &crate::plan::KubeObject,
    reporter: &dyn Reporter,
) -> Result<()> {
    if b.ensure(obj).await? {
        let kind = obj.body["kind"].as_str().unwrap_or("object");
        reporter.emit(Event::Info {
            message: match obj.cluster.as_str() {
                "" => format!("created {kind} {} on the service cluster", obj.name),
                ws => format!("created {kind} {} in {ws}", obj.name),
            },
        });
    }
    Ok(())
}

/// The bootstrap objects in waves that may run concurrently: workspaces level by level
/// (a parent before its children), then every workspace's other objects (each
/// workspace's in order), then APIBindings (their exports exist by then).
fn bootstrap_waves(objs: &[crate::plan::KubeObject]) -> Vec<Vec<Vec<&crate::plan::KubeObject>>> {
    let kind = |o: &crate::plan::KubeObject| o.body["kind"].as_str().unwrap_or_default().to_owned();
    let mut waves: Vec<Vec<Vec<&crate::plan::KubeObject>>> = vec![];
    let mut levels: BTreeMap<usize, Vec<&crate::plan::KubeObject>> = BTreeMap::new();
    for o in objs.iter().filter(|o| kind(o) == "Workspace") {
        levels
            .entry(o.cluster.matches(':').count())
            .or_default()
            .push(o);
    }
    for (_, ws) in levels {
        waves.push(ws.into_iter().map(|o| vec![o]).collect());
    }
    let mut by_cluster: Vec<(String, Vec<&crate::plan::KubeObject>)> = vec![];
    for o in objs
        .iter()
        .filter(|o| !matches!(kind(o).as_str(), "Workspace" | "APIBinding"))
    {
        match by_cluster.iter_mut().find(|(c, _)| *c == o.cluster) {
            Some((_, v)) => v.push(o),
            None => by_cluster.push((o.cluster.clone(), vec![o])),
        }
    }
    waves.push(by_cluster.into_iter().map(|(_, v)| v).collect());
    waves.push(
        objs.iter()
            .filter(|o| kind(o) == "APIBinding")
            .map(|o| vec![o])
            .collect(),
    );
    waves.retain(|w| !w.is_empty());
    waves
}

fn millis(d: Duration) -> u64 {
    d.as_millis().try_into().unwrap_or(u64::MAX)
}

/// Removes every container and volume labelled with run `run` (what one `up` created).
pub async fn rollback<R: Runtime>(rt: &R, env: &str, run: &str) -> Result<(usize, usize)> {
    // A create under way when `up` was cut short (Ctrl-C, a failure elsewhere) still
    // makes its container: wait for it, or the listing below would miss it.
    rt.settle().await;
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
    fn bootstrap_waves_keep_the_orders_that_matter() {
        let p = profile::load("workshop").unwrap();
        let plan = crate::plan::preview(
            &p,
            &Options {
                env: "dev".into(),
                ..Default::default()
            },
        )
        .unwrap();
        let waves = bootstrap_waves(&plan.bootstrap);
        let flat: Vec<(usize, &str, &str)> = waves
            .iter()
            .enumerate()
            .flat_map(|(i, w)| {
                w.iter()
                    .flatten()
                    .map(move |o| (i, o.body["kind"].as_str().unwrap(), o.name.as_str()))
            })
            .collect();
        let wave_of = |kind: &str, name: &str| {
            flat.iter()
                .find(|(_, k, n)| *k == kind && *n == name)
                .unwrap_or_else(|| panic!("{kind} {name} in {flat:?}"))
                .0
        };
        // Parents before children, everything else after the workspaces, bindings last.
        assert!(wave_of("Workspace", "providers") < wave_of("Workspace", "example"));
        assert!(wave_of("Workspace", "example") < wave_of("APIExport", "example.kcpenv.dev"));
        assert!(
            wave_of("APIExport", "example.kcpenv.dev")
                < wave_of("APIBinding", "example.kcpenv.dev")
        );
        assert_eq!(flat.len(), plan.bootstrap.len());
        // Within a workspace, the plan's order: the CRD before its PublishedResource.
        let service: Vec<&str> = waves
            .iter()
            .flatten()
            .find(|objs| objs.iter().any(|o| o.name == "crontabs"))
            .unwrap()
            .iter()
            .map(|o| o.name.as_str())
            .collect();
        let at = |n: &str| service.iter().position(|x| *x == n).unwrap();
        assert!(at("crontabs.example.kcpenv.dev") < at("crontabs"));
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
