// Package pidholder starts the process that holds a pod's shared PID
// namespace (spec.shareProcessNamespace), the job of upstream's pause
// container: it is PID 1 of the namespace, reaps the orphans the pod's
// containers leave, and keeps the namespace alive while containers come and
// go (a PID namespace whose first process exits kills all of the others and
// takes no new ones).
//
// skiff has no pause image, and the skiff binary itself is a poor PID 1: the
// Go runtime and package initialisation of a re-executed skiff cost tens of
// megabytes. So the holder is a few lines of C run from an ELF constructor,
// before the Go runtime starts, when the binary is executed as Name with
// the variable Env set (as runc's nsenter does for `runc init`): that process
// unshares a PID namespace, forks the holder into it, prints the holder's
// PID and exits. The holder is thus never the caller's child, outlives a
// restart of the agent, and costs well under a megabyte of its own.
package pidholder

// Env is the environment variable that makes the binary start a holder
// instead of running main.
const Env = "_SKIFF_PID_HOLDER"

// Name is the holder's process name (its argv[0] and comm), which the pod's
// containers see as PID 1.
const Name = "skiff-pause"
