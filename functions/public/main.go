// Command public is the Lambda serving /api/health, /api/openapi.json and
// the JSON 404 of every route no other function owns. It touches no AWS service.
package main

import (
	"log/slog"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/sendwell/sendwell/shared/app"
	"github.com/sendwell/sendwell/shared/clock"
	"github.com/sendwell/sendwell/shared/logx"
)

func main() {
	slog.SetDefault(slog.New(logx.NewHandler(lambdacontext.NewLogHandler())))
	lambda.Start(app.Lambda(app.Public(clock.System{})))
}
