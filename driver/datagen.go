package driver

import (
	"encoding/base64"
	"fmt"
	"path"
	"regexp"
	"strconv"
	"strings"

	rayv1 "github.com/ray-project/kuberay/ray-operator/apis/ray/v1"
)

// BoostgenPath is where the trainer image keeps the boostgen binary.
const BoostgenPath = "/usr/local/bin/boostgen"

// MaxConfigBytes bounds the generation config carried inside the RayJob. The
// entrypoint reaches the submitter as one argument of `bash -c`, and Linux
// caps a single argument at 128 KiB (MAX_ARG_STRLEN); the config is base64
// encoded twice on the way (×16/9), which leaves room for 48 KiB.
const MaxConfigBytes = 48 << 10

// DataGenJob is `boostgen run CONFIG` spread over a Ray cluster: Shards tasks,
// task i running `boostgen run CONFIG --shard i/Shards --out Out`, then one
// `boostgen finalize Out` once every shard has succeeded.
type DataGenJob struct {
	Name string
	// ConfigName is the config's file name (its base name is kept so that
	// relative paths and error messages read the same as on the laptop).
	ConfigName string
	// Config is the config file's content. It travels inside the RayJob, so it
	// must not contain secrets: those come from the Cluster's Secrets as
	// environment variables.
	Config []byte
	Shards int
	Out    string
	// GPUsPerShard and CPUsPerShard are each task's Ray resource request
	// (GPUs when the config's models need them).
	GPUsPerShard float64
	CPUsPerShard float64
}

// Validate checks the job's fields, naming the bad one.
func (j DataGenJob) Validate() error {
	if err := ValidateName(j.Name); err != nil {
		return err
	}
	if len(j.Config) == 0 {
		return fmt.Errorf("config %s: empty", j.ConfigName)
	}
	if len(j.Config) > MaxConfigBytes {
		return fmt.Errorf("config %s: %d bytes; at most %d fit in a RayJob", j.ConfigName, len(j.Config), MaxConfigBytes)
	}
	if j.Shards < 1 {
		return fmt.Errorf("shards %d: need at least 1", j.Shards)
	}
	if j.GPUsPerShard < 0 || j.CPUsPerShard < 0 {
		return fmt.Errorf("GPUs/CPUs per shard must not be negative")
	}
	return ValidateURI("out", j.Out)
}

var configNameSafe = regexp.MustCompile(`[^A-Za-z0-9._-]`)

// script is the Ray driver program. It is kept free of anything that needs
// the cluster's Python beyond Ray itself.
const script = `import base64, os, subprocess, sys, tempfile
import ray

BOOSTGEN = %q
CONFIG = base64.b64decode(%q)
CONFIG_NAME = %q
SHARDS = %d
OUT = %q

ray.init()

def write_config():
    d = tempfile.mkdtemp(prefix="boostgen-")
    p = os.path.join(d, CONFIG_NAME)
    with open(p, "wb") as f:
        f.write(CONFIG)
    return p

@ray.remote(num_gpus=%s, num_cpus=%s, max_retries=2)
def shard(i):
    cmd = [BOOSTGEN, "run", write_config(), "--shard", "%%d/%%d" %% (i, SHARDS), "--out", OUT]
    print("shard %%d/%%d: %%s" %% (i, SHARDS, " ".join(cmd)), flush=True)
    return i, subprocess.run(cmd).returncode

results = ray.get([shard.remote(i) for i in range(SHARDS)])
failed = sorted(i for i, rc in results if rc != 0)
if failed:
    sys.exit("boostgen: shards failed: %%s" %% failed)
subprocess.run([BOOSTGEN, "finalize", OUT], check=True)
print("boostgen: %%d shards finalized in %%s" %% (SHARDS, OUT), flush=True)
`

// DriverScript is the Python program the RayJob runs on the head node.
func (j DataGenJob) DriverScript() string {
	name := configNameSafe.ReplaceAllString(path.Base(j.ConfigName), "_")
	if name == "" || name == "." || name == "_" {
		name = "config.yaml"
	}
	return fmt.Sprintf(script, BoostgenPath, base64.StdEncoding.EncodeToString(j.Config), name, j.Shards, j.Out,
		pyFloat(j.GPUsPerShard), pyFloat(j.CPUsPerShard))
}

func pyFloat(f float64) string {
	s := strconv.FormatFloat(f, 'g', -1, 64)
	if !strings.ContainsAny(s, ".e") {
		s += ".0"
	}
	return s
}

// Entrypoint runs DriverScript. The script travels base64-encoded: the
// entrypoint is parsed by the submitter's shell, re-joined by `ray job submit`
// (Python's list2cmdline, which wraps arguments with spaces in double
// quotes) and parsed again on the head, and a base64 string inside single
// quotes inside double quotes survives all three unchanged.
func (j DataGenJob) Entrypoint() string {
	b64 := base64.StdEncoding.EncodeToString([]byte(j.DriverScript()))
	return `python -c "import base64;exec(base64.b64decode('` + b64 + `'))"`
}

// BuildDataGenJob is the RayJob that runs j on c.
func BuildDataGenJob(j DataGenJob, c Cluster) (*rayv1.RayJob, error) {
	if err := j.Validate(); err != nil {
		return nil, err
	}
	return build(c, jobSpec{
		name:       j.Name,
		component:  "datagen",
		run:        j.Name,
		entrypoint: j.Entrypoint(),
		// The entrypoint is base64; these say what it runs.
		annotations: map[string]string{
			AnnotationOut:    j.Out,
			AnnotationConfig: path.Base(j.ConfigName),
			AnnotationShards: strconv.Itoa(j.Shards),
		},
	})
}
