package storage

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestVolumes(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	v := Volume{Role: "db", PersistenceID: "pg#data#1", Path: "/w/volumes/roles/db/pg#data#1", SizeBytes: 10 << 20, CreatedAt: time.Unix(5, 0).UTC()}
	if err := s.PutVolume(ctx, v); err != nil {
		t.Fatal(err)
	}
	v2 := v
	v2.PersistenceID, v2.Path = "pg#data#2", "/w/volumes/roles/db/pg#data#2"
	if err := s.PutVolume(ctx, v2); err != nil {
		t.Fatal(err)
	}
	v.Destroying = true
	if err := s.PutVolume(ctx, v); err != nil {
		t.Fatal(err)
	}
	if err := s.PutVolume(ctx, Volume{Role: "db", Path: "/x"}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("volume without id: %v", err)
	}
	st := mustLoad(t, s)
	if len(st.Volumes) != 2 || st.Volumes[0] != v || st.Volumes[1] != v2 {
		t.Fatalf("loaded %+v", st.Volumes)
	}
	if err := s.DeleteVolume(ctx, "db", v.PersistenceID); err != nil {
		t.Fatal(err)
	}
	if st := mustLoad(t, s); len(st.Volumes) != 1 || st.Volumes[0].PersistenceID != v2.PersistenceID {
		t.Fatalf("after delete %+v", st.Volumes)
	}
}
