// Package volume holds skiff's storage controllers, one package each:
// persistentvolume (upstream's persistentvolume-binder: binds claims to volumes,
// tracks their phases, reclaims released volumes) and localpath (the built-in
// local-path provisioner and its default StorageClass, as k3s ships).
package volume
