// Package datastore runs the embedded kine that gives the apiserver an etcd endpoint.
//
// The default is SQLite in <data-dir>/server/db/state.db (WAL). An external
// --datastore-endpoint (postgres://, mysql://) is handed to kine unchanged; an etcd
// endpoint (http://, https://) is used directly, with no kine in between. Only these
// drivers are linked: kine's endpoint package would link every driver it knows.
//
//	ds, err := datastore.Start(ctx, datastore.Config{DataDir: "/var/lib/skiff/server"})
//	// ds.Endpoints → []string{"unix:///var/lib/skiff/server/kine.sock"}
package datastore

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/k3s-io/kine/pkg/drivers"
	"github.com/k3s-io/kine/pkg/drivers/generic"
	_ "github.com/k3s-io/kine/pkg/drivers/mysql"  // mysql://
	_ "github.com/k3s-io/kine/pkg/drivers/pgsql"  // postgres://
	_ "github.com/k3s-io/kine/pkg/drivers/remote" // http(s):// etcd, passed through
	_ "github.com/k3s-io/kine/pkg/drivers/sqlite" // default
	"github.com/k3s-io/kine/pkg/server"
	"github.com/sirupsen/logrus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"
)

// EmulatedETCDVersion is what kine reports as its etcd version; the apiserver reads it
// to decide whether consistent lists can be served from the watch cache.
const EmulatedETCDVersion = "3.6.0"

// sqlitePoolSize bounds kine's connections to SQLite (see Start).
const sqlitePoolSize = 4

// Config says where the data lives.
type Config struct {
	// DataDir is <data-dir>/server; the SQLite file and kine's socket live below it.
	DataDir string
	// Endpoint is --datastore-endpoint; empty means SQLite in DataDir.
	Endpoint string
	// CompactInterval is how often old revisions are removed (default 5 minutes).
	CompactInterval time.Duration
}

// Datastore is a running kine.
type Datastore struct {
	// Endpoints are the etcd endpoints the apiserver should use.
	Endpoints []string
	// DBPath is the SQLite file, empty for external datastores.
	DBPath string

	cancel   context.CancelFunc
	wg       sync.WaitGroup
	grpc     *grpc.Server
	stopOnce sync.Once
}

// DBFile returns the SQLite path for a server data dir.
func DBFile(serverDir string) string { return filepath.Join(serverDir, "db", "state.db") }

// Start opens the datastore and serves kine's etcd API on a unix socket until Stop.
func Start(cfg Config) (*Datastore, error) {
	if cfg.CompactInterval == 0 {
		cfg.CompactInterval = 5 * time.Minute
	}
	ds := &Datastore{}
	endpoint := cfg.Endpoint
	var pool generic.ConnectionPoolConfig
	if endpoint == "" {
		// SQLite takes one writer at a time: with an unbounded pool, concurrent writes
		// queue in SQLite's busy handler, which sleeps in 50-100 ms steps and so sets
		// the tail latency. A few connections queue writers in Go instead.
		pool = generic.ConnectionPoolConfig{MaxOpen: sqlitePoolSize, MaxIdle: sqlitePoolSize}
		ds.DBPath = DBFile(cfg.DataDir)
		// kine retries forever on a missing directory: make it first.
		if err := os.MkdirAll(filepath.Dir(ds.DBPath), 0o700); err != nil {
			return nil, fmt.Errorf("create db dir: %w", err)
		}
		endpoint = "sqlite://" + ds.DBPath + "?_journal_mode=WAL&_busy_timeout=30000&_synchronous=NORMAL&_txlock=immediate&_stmt_cache_size=20&cache=shared"
	}
	if !strings.Contains(endpoint, "://") {
		return nil, errors.New("invalid datastore endpoint: want a URI such as postgres://, mysql://, http:// or https://")
	}
	bctx, cancel := context.WithCancel(context.Background())
	ds.cancel = cancel
	configureLogging()
	_, backend, err := drivers.New(bctx, &ds.wg, &drivers.Config{
		Endpoint:             endpoint,
		CompactInterval:      cfg.CompactInterval,
		CompactTimeout:       5 * time.Second,
		CompactMinRetain:     1000,
		CompactBatchSize:     1000,
		PollBatchSize:        500,
		PollInterval:         time.Second,
		ConnectionPoolConfig: pool,
	})
	if err != nil {
		cancel()
		if errors.Is(err, drivers.ErrUnknownDriver) {
			return nil, fmt.Errorf("datastore endpoint: unsupported scheme (want sqlite://, postgres://, mysql://, http:// or https://)")
		}
		// The endpoint may hold credentials: do not echo it.
		return nil, fmt.Errorf("open datastore: %w", err)
	}
	if backend == nil { // an etcd endpoint: the apiserver talks to it directly
		cancel()
		ds.Endpoints = strings.Split(endpoint, ",")
		return ds, nil
	}
	if err := backend.Start(bctx); err != nil {
		cancel()
		return nil, fmt.Errorf("start kine backend: %w", err)
	}
	sock := filepath.Join(cfg.DataDir, "kine.sock")
	if err := os.Remove(sock); err != nil && !errors.Is(err, os.ErrNotExist) {
		cancel()
		return nil, fmt.Errorf("remove stale kine socket: %w", err)
	}
	lis, err := (&net.ListenConfig{}).Listen(bctx, "unix", sock)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("listen on kine socket: %w", err)
	}
	if err := os.Chmod(sock, 0o600); err != nil {
		lis.Close()
		cancel()
		return nil, err
	}
	ds.grpc = grpc.NewServer(
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 5 * time.Second}),
		grpc.MaxRecvMsgSize(2*1024*1024+512*1024),
		grpc.MaxSendMsgSize(1<<31-1),
	)
	// NotifyInterval must not be 0: kine would busy-loop a core.
	server.New(backend, "unix", 5*time.Second, EmulatedETCDVersion).Register(ds.grpc)
	ds.wg.Add(1)
	go func() {
		defer ds.wg.Done()
		if err := ds.grpc.Serve(lis); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			logrus.Errorf("kine gRPC server: %v", err)
		}
	}()
	ds.Endpoints = []string{"unix://" + sock}
	// The caller stops the datastore (Stop) after the apiserver has shut down: stopping
	// it on ctx would pull the store from under requests that are still draining.
	return ds, nil
}

// Stop closes kine's server and its database, waiting up to two seconds for open
// streams (watches) to finish.
func (ds *Datastore) Stop() {
	ds.stopOnce.Do(func() {
		if ds.grpc != nil {
			t := time.AfterFunc(2*time.Second, ds.grpc.Stop)
			ds.grpc.GracefulStop()
			t.Stop()
		}
		ds.cancel()
		ds.wg.Wait()
	})
}

// configureLogging keeps kine's logrus output terse: warnings and errors only.
func configureLogging() {
	if logrus.GetLevel() > logrus.WarnLevel {
		logrus.SetLevel(logrus.WarnLevel)
	}
}
