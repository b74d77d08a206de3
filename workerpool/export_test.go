package workerpool

// WaitBucketOf exposes the histogram's bucketing to the tests.
var WaitBucketOf = waitBucket
