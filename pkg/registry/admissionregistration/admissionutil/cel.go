package admissionutil

import (
	"sync"

	"github.com/google/cel-go/cel"
	"k8s.io/apimachinery/pkg/util/validation/field"
	plugincel "k8s.io/apiserver/pkg/admission/plugin/cel"
	"k8s.io/apiserver/pkg/cel/environment"
)

// The result types CEL expressions of policies must have.
var (
	BoolResult   = []*cel.Type{cel.BoolType}
	StringResult = []*cel.Type{cel.StringType}
	// StringOrNull is what an audit annotation's valueExpression may return.
	StringOrNull = []*cel.Type{cel.StringType, cel.NullType}
	AnyResult    = []*cel.Type{cel.AnyType}
)

var baseEnv = sync.OnceValue(func() *environment.EnvSet {
	return environment.MustBaseEnvSet(environment.DefaultCompatibilityVersion())
})

// Expressions compiles the CEL expressions of one policy with the same compiler the
// admission plugins use, so that a policy that cannot run is refused when written.
// A nil *Expressions checks nothing.
type Expressions struct {
	compiler *plugincel.CompositedCompiler
	opts     plugincel.OptionalVariableDeclarations
	mode     environment.Type
}

// NewExpressions returns a checker for a policy with or without params; mutating policies
// also get the patch types.
func NewExpressions(hasParams, mutating bool) *Expressions {
	c, err := plugincel.NewCompositedCompiler(baseEnv())
	if err != nil {
		return nil
	}
	return &Expressions{
		compiler: c,
		opts:     plugincel.OptionalVariableDeclarations{HasParams: hasParams, HasAuthorizer: true, HasPatchTypes: mutating},
		mode:     environment.NewExpressions,
	}
}

type expression struct {
	name, expr string
	types      []*cel.Type
}

func (e expression) GetExpression() string    { return e.expr }
func (e expression) ReturnTypes() []*cel.Type { return e.types }
func (e expression) GetName() string          { return e.name }

func resultErrors(r plugincel.CompilationResult, expr string, fp *field.Path) field.ErrorList {
	if r.Error == nil {
		return nil
	}
	return field.ErrorList{field.Invalid(fp, expr, r.Error.Detail)}
}

// Check compiles expr and checks its result type.
func (x *Expressions) Check(expr string, types []*cel.Type, fp *field.Path) field.ErrorList {
	if x == nil {
		return nil
	}
	return resultErrors(x.compiler.CompileCELExpression(expression{expr: expr, types: types}, x.opts, x.mode), expr, fp)
}

// Variable compiles a variable and makes it known to later expressions.
func (x *Expressions) Variable(name, expr string, fp *field.Path) field.ErrorList {
	if x == nil {
		return nil
	}
	return resultErrors(x.compiler.CompileAndStoreVariable(expression{name: name, expr: expr, types: AnyResult}, x.opts, x.mode), expr, fp)
}
