package datastore

import (
	"context"
	"os"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

func TestSQLiteSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	put := func(ds *Datastore) {
		c := client(t, ds)
		defer c.Close()
		if _, err := c.Put(context.Background(), "/registry/test/a", "1"); err != nil {
			t.Fatal(err)
		}
	}
	ds, err := Start(Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if ds.DBPath != DBFile(dir) {
		t.Fatalf("db at %s, want %s", ds.DBPath, DBFile(dir))
	}
	put(ds)
	ds.Stop()
	ds.Stop() // twice is fine
	if st, err := os.Stat(DBFile(dir)); err != nil || st.Size() == 0 {
		t.Fatalf("database file: %v", err)
	}

	ds, err = Start(Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer ds.Stop()
	c := client(t, ds)
	defer c.Close()
	resp, err := c.Get(context.Background(), "/registry/test/a")
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "1" {
		t.Fatalf("after restart: %v", resp.Kvs)
	}
	if st, _ := os.Stat(dir + "/kine.sock"); st == nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("kine socket mode: %v", st)
	}
}

func TestBadEndpoints(t *testing.T) {
	for _, ep := range []string{"nonsense", "foo://bar"} {
		if _, err := Start(Config{DataDir: t.TempDir(), Endpoint: ep}); err == nil {
			t.Errorf("endpoint %q accepted", ep)
		}
	}
}

func client(t *testing.T, ds *Datastore) *clientv3.Client {
	c, err := clientv3.New(clientv3.Config{Endpoints: ds.Endpoints, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return c
}
