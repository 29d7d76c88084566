package spanner

import (
	"context"
	"fmt"
	"strconv"

	"cloud.google.com/go/spanner/admin/instance/apiv1/instancepb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"sigs.k8s.io/controller-runtime/pkg/client"

	commonv1 "github.com/infraplane/infraplane/api/common/v1alpha1"
	spannerv1 "github.com/infraplane/infraplane/api/spanner/v1alpha1"
	"github.com/infraplane/infraplane/internal/managed"
)

// InstanceKind describes SpannerInstance to the generic reconciler.
func InstanceKind(clients *Clients) managed.Kind[*spannerv1.SpannerInstance] {
	return managed.Kind[*spannerv1.SpannerInstance]{
		Name:    "SpannerInstance",
		New:     func() *spannerv1.SpannerInstance { return &spannerv1.SpannerInstance{} },
		NewList: func() client.ObjectList { return &spannerv1.SpannerInstanceList{} },
		Connector: managed.ConnectorFunc[*spannerv1.SpannerInstance](func(ctx context.Context, _ *spannerv1.SpannerInstance, env managed.Env) (managed.ExternalClient[*spannerv1.SpannerInstance], error) {
			cn, err := clients.get(ctx, env.Provider)
			if err != nil {
				return nil, err
			}
			return &instanceClient{cn: cn, env: env, name: InstanceName(env.Provider.ProjectID, env.ResourceID)}, nil
		}),
	}
}

// InstanceTarget lets other kinds (SpannerDatabase) reference instances.
var InstanceTarget = managed.ReferenceTarget{Kind: "SpannerInstance", New: func() managed.Object { return &spannerv1.SpannerInstance{} }, CloudName: InstanceName}

// InstanceName is an instance's full name.
func InstanceName(project, id string) string {
	return fmt.Sprintf("projects/%s/instances/%s", project, id)
}

// instanceConfigName is the full name of an instance configuration.
func instanceConfigName(project, config string) string {
	return fmt.Sprintf("projects/%s/instanceConfigs/%s", project, config)
}

// Spec fields of an instance, and their UpdateInstance mask paths.
const (
	fieldConfig          = "spec.config"
	fieldDisplayName     = "spec.displayName"
	fieldProcessingUnits = "spec.processingUnits"
	fieldNodeCount       = "spec.nodeCount"
	fieldInstanceLabels  = "spec.labels"
)

var instanceMask = map[string]string{
	fieldDisplayName:     "display_name",
	fieldProcessingUnits: "processing_units",
	fieldNodeCount:       "node_count",
	fieldInstanceLabels:  "labels",
}

type instanceClient struct {
	cn   *conn
	env  managed.Env
	name string
}

func (c *instanceClient) Name() string { return c.name }

func (c *instanceClient) Observe(ctx context.Context, in *spannerv1.SpannerInstance) (managed.Observation, error) {
	got, err := c.cn.instances.GetInstance(ctx, &instancepb.GetInstanceRequest{Name: c.name})
	if managed.IsNotFound(err) {
		in.Status.Observed = nil
		return managed.Observation{}, nil
	}
	if err != nil {
		return managed.Observation{}, err
	}
	in.Status.Observed = instanceObservation(got)

	var d managed.Differ
	d.Add(fieldConfig, in.Spec.Config, managed.LastSegment(got.GetConfig()), true)
	d.Add(fieldDisplayName, displayName(in), got.GetDisplayName(), false)
	if n := in.Spec.NodeCount; n != nil {
		d.Add(fieldNodeCount, strconv.Itoa(int(*n)), strconv.Itoa(int(got.GetNodeCount())), false)
	} else if pu := in.Spec.ProcessingUnits; pu != nil {
		d.Add(fieldProcessingUnits, strconv.Itoa(int(*pu)), strconv.Itoa(int(got.GetProcessingUnits())), false)
	}
	d.Add(fieldInstanceLabels, managed.RenderLabels(commonv1.LabelMap(in.Spec.Labels)), managed.RenderLabels(managed.UserLabels(got.GetLabels())), false)
	return managed.Observation{Exists: true, Owner: got.GetLabels()[managed.OwnerLabelKey], Diff: d.Diffs}, nil
}

func instanceObservation(got *instancepb.Instance) *spannerv1.SpannerInstanceObservation {
	obs := &spannerv1.SpannerInstanceObservation{
		Config:          managed.LastSegment(got.GetConfig()),
		DisplayName:     got.GetDisplayName(),
		NodeCount:       got.GetNodeCount(),
		ProcessingUnits: got.GetProcessingUnits(),
		Labels:          got.GetLabels(),
	}
	if got.GetState() != instancepb.Instance_STATE_UNSPECIFIED {
		obs.State = got.GetState().String()
	}
	return obs
}

// displayName is spec.displayName, defaulting to the object's name.
func displayName(in *spannerv1.SpannerInstance) string {
	if in.Spec.DisplayName != "" {
		return in.Spec.DisplayName
	}
	return in.Name
}

func (c *instanceClient) desired(in *spannerv1.SpannerInstance) *instancepb.Instance {
	pb := &instancepb.Instance{
		Name:        c.name,
		Config:      instanceConfigName(c.env.Provider.ProjectID, in.Spec.Config),
		DisplayName: displayName(in),
		Labels:      managed.WithOwner(commonv1.LabelMap(in.Spec.Labels), c.env.Owner),
	}
	if n := in.Spec.NodeCount; n != nil {
		pb.NodeCount = *n
	} else if pu := in.Spec.ProcessingUnits; pu != nil {
		pb.ProcessingUnits = *pu
	}
	return pb
}

func (c *instanceClient) Create(ctx context.Context, in *spannerv1.SpannerInstance) error {
	op, err := c.cn.instances.CreateInstance(ctx, &instancepb.CreateInstanceRequest{
		Parent:     "projects/" + c.env.Provider.ProjectID,
		InstanceId: c.env.ResourceID,
		Instance:   c.desired(in),
	})
	if err != nil {
		return err
	}
	got, err := wait(ctx, "creating "+c.name, func(ctx context.Context) (*instancepb.Instance, error) { return op.Wait(ctx) })
	if err != nil && !op.Done() {
		// Accepted, still being made (or its status could not be read):
		// ours all the same. Its labels, the ownership label among them,
		// were part of the request.
		return managed.CreateAccepted(err)
	}
	if err == nil {
		in.Status.Observed = instanceObservation(got)
	}
	return err
}

func (c *instanceClient) Update(ctx context.Context, in *spannerv1.SpannerInstance, diff []managed.FieldDiff) error {
	var paths []string
	for _, d := range diff {
		if p, ok := instanceMask[d.Field]; ok {
			paths = append(paths, p)
		}
	}
	op, err := c.cn.instances.UpdateInstance(ctx, &instancepb.UpdateInstanceRequest{
		Instance:  c.desired(in),
		FieldMask: &fieldmaskpb.FieldMask{Paths: paths},
	})
	if err != nil {
		return err
	}
	got, err := wait(ctx, "updating "+c.name, func(ctx context.Context) (*instancepb.Instance, error) { return op.Wait(ctx) })
	if err == nil && got != nil {
		in.Status.Observed = instanceObservation(got)
	}
	return err
}

func (c *instanceClient) Delete(ctx context.Context, _ *spannerv1.SpannerInstance) error {
	return c.cn.instances.DeleteInstance(ctx, &instancepb.DeleteInstanceRequest{Name: c.name})
}
