package stacks

import (
	"strconv"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssecretsmanager"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssnssubscriptions"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
)

// ApprovalProps configures the approval path.
type ApprovalProps struct {
	Key      awskms.IKey        // encrypts the topic
	Request  awslambda.Function // publishes approval requests (.waitForTaskToken)
	Callback awslambda.Function // serves the approve/reject links
	// StateMachineARNs are the state machines that wait for approvals
	// (replicate and reconcile), built from their fixed names: a reference
	// to a state machine itself would be a dependency cycle (state machine
	// -> request function -> callback URL -> callback role).
	StateMachineARNs []string
	TTLSeconds       int      // how long a link stays valid
	Emails           []string // subscribed to approval requests, if any
}

// Approval is the SNS topic approval requests go to, the HMAC key that signs
// the approve/reject links, and the callback's Function URL.
type Approval struct {
	constructs.Construct
	Topic  awssns.Topic
	Secret awssecretsmanager.Secret
	URL    awslambda.FunctionUrl
}

// NewApproval wires the approval request and callback functions.
func NewApproval(scope constructs.Construct, id string, p ApprovalProps) *Approval {
	c := constructs.NewConstruct(scope, jsii.String(id))
	topic := awssns.NewTopic(c, jsii.String("Requests"), &awssns.TopicProps{
		DisplayName: jsii.String("Ferry approval requests"),
		MasterKey:   p.Key,
		EnforceSSL:  jsii.Bool(true),
	})
	for _, e := range p.Emails {
		topic.AddSubscription(awssnssubscriptions.NewEmailSubscription(jsii.String(e), nil))
	}
	secret := awssecretsmanager.NewSecret(c, jsii.String("LinkKey"), &awssecretsmanager.SecretProps{
		Description: jsii.String("Ferry: HMAC key that signs approve/reject links"),
		GenerateSecretString: &awssecretsmanager.SecretStringGenerator{
			PasswordLength:     jsii.Number(64),
			ExcludePunctuation: jsii.Bool(true),
		},
		RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})
	cdknag.NagSuppressions_AddResourceSuppressions(secret, &[]*cdknag.NagPackSuppression{{
		Id: jsii.String("AwsSolutions-SMG4"),
		Reason: jsii.String("The secret is an HMAC key for short-lived approve/reject links, not a credential of another system. " +
			"Rotating it would invalidate every pending approval link; rotate by hand (put a new random value) " +
			"when no approval is pending, or if a link may have leaked."),
	}}, jsii.Bool(false))

	// The links are opened from email, so they cannot carry AWS credentials:
	// the handler itself checks the HMAC signature, the expiry and that the
	// task token is still waiting (single use).
	url := p.Callback.AddFunctionUrl(&awslambda.FunctionUrlOptions{
		AuthType: awslambda.FunctionUrlAuthType_NONE,
	})

	p.Request.AddEnvironment(jsii.String("FERRY_APPROVAL_TOPIC_ARN"), topic.TopicArn(), nil)
	p.Request.AddEnvironment(jsii.String("FERRY_APPROVAL_SECRET_ARN"), secret.SecretArn(), nil)
	p.Request.AddEnvironment(jsii.String("FERRY_APPROVAL_URL"), url.Url(), nil)
	p.Request.AddEnvironment(jsii.String("FERRY_APPROVAL_TTL_SECONDS"), jsii.String(strconv.Itoa(p.TTLSeconds)), nil)
	p.Callback.AddEnvironment(jsii.String("FERRY_APPROVAL_SECRET_ARN"), secret.SecretArn(), nil)

	// Publishing to a KMS-encrypted topic needs the key (GenerateDataKey
	// and Decrypt, not GrantPublish's GenerateDataKey*).
	p.Request.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String("PublishApprovalRequests"),
		Actions:   jsii.Strings("sns:Publish"),
		Resources: &[]*string{topic.TopicArn()},
	}))
	p.Request.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String("EncryptApprovalRequests"),
		Actions:   jsii.Strings("kms:Decrypt", "kms:GenerateDataKey"),
		Resources: &[]*string{p.Key.KeyArn()},
	}))
	secret.GrantRead(p.Request, nil)
	secret.GrantRead(p.Callback, nil)
	p.Callback.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String("AnswerApprovalTasks"),
		Actions:   jsii.Strings("states:SendTaskSuccess", "states:SendTaskFailure"),
		Resources: jsii.Strings(p.StateMachineARNs...),
	}))
	return &Approval{Construct: c, Topic: topic, Secret: secret, URL: url}
}
