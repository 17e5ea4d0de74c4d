package driver

import (
	"crypto/rand"
	"fmt"
	"strconv"
	"strings"

	rayv1 "github.com/ray-project/kuberay/ray-operator/apis/ray/v1"
)

// Stage is one of SpatialBoost's three training stages (paper, Section 3.1).
type Stage int

const (
	// StageAlign is feature alignment: only the projector trains.
	StageAlign Stage = 1
	// StageInstruct is visual instruction tuning: projector and LLM train.
	StageInstruct Stage = 2
	// StageEncoder fine-tunes the vision encoder through the dual-channel
	// attention (Attn⁺ and the mixture factor α) and the projector; the LLM
	// is frozen.
	StageEncoder Stage = 3
)

// AllStages is the order `--stage all` runs them in.
var AllStages = []Stage{StageAlign, StageInstruct, StageEncoder}

func (s Stage) String() string { return strconv.Itoa(int(s)) }

// Trains says, for help texts, which parameters a stage updates.
func (s Stage) Trains() string {
	switch s {
	case StageAlign:
		return "projector only (vision encoder and LLM frozen)"
	case StageInstruct:
		return "projector + LLM (vision encoder frozen)"
	case StageEncoder:
		return "vision encoder Attn+ layers, mixture factor alpha and projector (LLM frozen)"
	}
	return "?"
}

// ParseStages reads "1", "2", "3" or "all".
func ParseStages(s string) ([]Stage, error) {
	switch s {
	case "1", "2", "3":
		n, _ := strconv.Atoi(s)
		return []Stage{Stage(n)}, nil
	case "all":
		return AllStages, nil
	}
	return nil, fmt.Errorf("stage %q: want 1, 2, 3 or all", s)
}

// Recipe is a stage's optimisation hyperparameters.
type Recipe struct {
	LR        float64
	BatchSize int
	Epochs    int
}

// DefaultRecipe is the paper's Appendix A recipe for s. Stage 1: lr 2e-3,
// batch 256, one epoch. Stage 3: lr 2e-5, batch 128, one epoch. Stage 2: batch
// 128, one epoch; the paper gives no learning rate, so 2e-5 (LLaVA-1.5's
// instruction-tuning rate) is boostgen's own choice.
func DefaultRecipe(s Stage) Recipe {
	switch s {
	case StageAlign:
		return Recipe{LR: 2e-3, BatchSize: 256, Epochs: 1}
	default:
		return Recipe{LR: 2e-5, BatchSize: 128, Epochs: 1}
	}
}

// Validate names the first bad hyperparameter.
func (r Recipe) Validate() error {
	if !(r.LR > 0 && r.LR < 1) {
		return fmt.Errorf("learning rate %g: want 0 < lr < 1", r.LR)
	}
	if r.BatchSize < 1 {
		return fmt.Errorf("batch size %d: want ≥ 1", r.BatchSize)
	}
	if r.Epochs < 1 {
		return fmt.Errorf("epochs %d: want ≥ 1", r.Epochs)
	}
	return nil
}

// TrainJob is one stage of one training run.
type TrainJob struct {
	Run    string // run name, shared by the stages of `--stage all`
	Stage  Stage
	Data   string // dataset URI (sharded LLaVA JSONL)
	Init   string // checkpoint or base model to start from; may be empty for stage 1
	Out    string // where the stage writes its checkpoint
	Recipe Recipe
}

// Name is the RayJob's name: the run name and the stage, e.g. "sb-7b-s2".
func (j TrainJob) Name() string { return fmt.Sprintf("%s-s%d", j.Run, j.Stage) }

// Entrypoint is the trainer command line. numWorkers is the number of Ray
// Train workers, one per GPU (or per worker pod without GPUs).
func (j TrainJob) Entrypoint(numWorkers int32, useGPU bool) string {
	args := []string{
		"python", "-m", "boostgen_trainer",
		"--stage", j.Stage.String(),
		"--data", j.Data,
	}
	if j.Init != "" {
		args = append(args, "--init", j.Init)
	}
	args = append(args,
		"--out", j.Out,
		"--lr", strconv.FormatFloat(j.Recipe.LR, 'g', -1, 64),
		"--batch-size", strconv.Itoa(j.Recipe.BatchSize),
		"--epochs", strconv.Itoa(j.Recipe.Epochs),
		"--num-workers", strconv.Itoa(int(numWorkers)),
	)
	if useGPU {
		args = append(args, "--use-gpu")
	}
	return strings.Join(args, " ") // every part is shell-safe: see ValidateURI
}

// Validate checks the job's URIs, recipe and name.
func (j TrainJob) Validate() error {
	if j.Stage < StageAlign || j.Stage > StageEncoder {
		return fmt.Errorf("stage %d: want 1, 2 or 3", j.Stage)
	}
	if err := ValidateURI(fmt.Sprintf("stage %d data", j.Stage), j.Data); err != nil {
		return err
	}
	if j.Init != "" {
		if err := ValidateURI(fmt.Sprintf("stage %d init", j.Stage), j.Init); err != nil {
			return err
		}
	} else if j.Stage != StageAlign {
		return fmt.Errorf("stage %d needs --init: the checkpoint of stage %d", j.Stage, j.Stage-1)
	}
	if err := ValidateURI(fmt.Sprintf("stage %d out", j.Stage), j.Out); err != nil {
		return err
	}
	if err := j.Recipe.Validate(); err != nil {
		return fmt.Errorf("stage %d: %w", j.Stage, err)
	}
	return ValidateName(j.Name())
}

// BuildTrainJob is the RayJob that runs j on c.
func BuildTrainJob(j TrainJob, c Cluster) (*rayv1.RayJob, error) {
	if err := j.Validate(); err != nil {
		return nil, err
	}
	numWorkers, useGPU := c.Workers, c.GPUsPerWorker > 0
	if useGPU {
		numWorkers = c.Workers * c.GPUsPerWorker
	}
	ann := map[string]string{AnnotationData: j.Data, AnnotationOut: j.Out}
	if j.Init != "" {
		ann[AnnotationInit] = j.Init
	}
	return build(c, jobSpec{
		name:        j.Name(),
		component:   "train",
		run:         j.Run,
		stage:       j.Stage.String(),
		entrypoint:  j.Entrypoint(numWorkers, useGPU),
		annotations: ann,
	})
}

// PlanTraining expands a run over several stages into one TrainJob per stage,
// in order. Each stage after the first starts from the previous stage's
// checkpoint. With one stage, out is the checkpoint URI itself; with several,
// stage k writes to out/stage<k>. data maps a stage to its dataset; a zero
// key gives the dataset for every stage without its own (the paper trains
// each stage on a different dataset, Appendix A).
func PlanTraining(run string, stages []Stage, data map[Stage]string, init, out string, recipes map[Stage]Recipe) ([]TrainJob, error) {
	if len(stages) == 0 {
		return nil, fmt.Errorf("no stages")
	}
	var jobs []TrainJob
	prev := init
	for _, s := range stages {
		d, ok := data[s]
		if !ok {
			d = data[0]
		}
		if d == "" {
			return nil, fmt.Errorf("stage %d: no --data (give --data URI, or --data %d=URI per stage)", s, s)
		}
		o := out
		if len(stages) > 1 {
			o = strings.TrimRight(out, "/") + "/stage" + s.String()
		}
		r, ok := recipes[s]
		if !ok {
			r = DefaultRecipe(s)
		}
		j := TrainJob{Run: run, Stage: s, Data: d, Init: prev, Out: o, Recipe: r}
		if err := j.Validate(); err != nil {
			return nil, err
		}
		jobs = append(jobs, j)
		prev = o
	}
	return jobs, nil
}

// NewRunName makes a fresh run name: prefix, a dash and 6 random characters.
func NewRunName(prefix string) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return prefix + "-" + string(b)
}
