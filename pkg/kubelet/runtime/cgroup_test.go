package runtime

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

func TestRestrictOOMScoreAdj(t *testing.T) {
	b, err := os.ReadFile("/proc/self/oom_score_adj")
	if err != nil {
		t.Skip(err)
	}
	own, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	if got := restrictOOMScoreAdj(1000); got != 1000 {
		t.Errorf("1000 became %d", got)
	}
	got := restrictOOMScoreAdj(-997)
	if hasCapSysResource() {
		if got != -997 {
			t.Errorf("with CAP_SYS_RESOURCE -997 became %d", got)
		}
	} else if got != max(own, -997) {
		t.Errorf("without CAP_SYS_RESOURCE -997 became %d, want the process's own %d", got, own)
	}
}
