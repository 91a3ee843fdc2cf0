//! The running host's control handle, for library code with no node
//! context at hand (a SIP transaction, an RPC exchange, `sim::time`).
//!
//! The test-bed installs a thread-local map of the run's hosts and their
//! control handles, for the uses the run needs ([`Uses`]): in-code fault
//! points (`buggify::here`) and per-host clocks (`sim::time`). The host is
//! the one whose `host{name}` span encloses the code
//! (`history::current_host`). A run that needs neither installs nothing,
//! and each lookup is then one thread-local read, so its history is the
//! same byte for byte.

use super::ControlHandle;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::sync::Arc;

/// What a run reaches the ambient handles for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Uses {
    /// Fault points are on (`[fault_settings] buggify`).
    pub fault_points: bool,
    /// The plan may skew a host's clock (a `clock` fault).
    pub clocks: bool,
}

/// One use, as asked for by a lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Use {
    FaultPoints,
    Clocks,
}

impl Uses {
    fn any(self) -> bool {
        self.fault_points || self.clocks
    }

    fn has(self, one: Use) -> bool {
        match one {
            Use::FaultPoints => self.fault_points,
            Use::Clocks => self.clocks,
        }
    }
}

struct Ambient {
    hosts: BTreeMap<Arc<str>, ControlHandle>,
    uses: Uses,
}

thread_local! {
    /// The run's hosts, while the run on this thread needs them.
    static AMBIENT: RefCell<Option<Ambient>> = const { RefCell::new(None) };
}

/// Makes [`current_control`] find the hosts' handles on this thread, for
/// `uses`, until the guard drops; nothing is installed (and `None`
/// returned) when the run needs neither use.
pub fn install(
    hosts: impl IntoIterator<Item = (Arc<str>, ControlHandle)>,
    uses: Uses,
) -> Option<AmbientGuard> {
    if !uses.any() {
        return None;
    }
    let hosts = hosts.into_iter().collect();
    AMBIENT.with(|a| *a.borrow_mut() = Some(Ambient { hosts, uses }));
    Some(AmbientGuard(()))
}

/// Clears the ambient handles when dropped.
pub struct AmbientGuard(());

impl Drop for AmbientGuard {
    fn drop(&mut self) {
        AMBIENT.with(|a| *a.borrow_mut() = None);
    }
}

/// The control handle of the host running now, when the run installed the
/// handles for `one`; `None` outside a run, outside a host, or otherwise.
pub fn current_control(one: Use) -> Option<ControlHandle> {
    let on = AMBIENT.with(|a| a.borrow().as_ref().is_some_and(|a| a.uses.has(one)));
    if !on {
        return None;
    }
    let host = crate::history::current_host()?;
    AMBIENT.with(|a| a.borrow().as_ref()?.hosts.get(&host).cloned())
}
