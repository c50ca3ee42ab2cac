/* The seed's first example through libasyncjob:
 *
 *     async def greet(message):
 *         await asyncio.sleep(1)
 *         print(message)
 *     await asyncio.gather(greet("Hello"), greet("World"))
 *
 * Both sleeps run at once on the daemon: this takes about one second. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <asyncjob.h>

int main(int argc, char **argv)
{
	asyncjob *aj = NULL;
	asyncjob_spec *specs[2] = { NULL, NULL };
	asyncjob_job **jobs = NULL;
	bool ok = false;
	int r;

	r = asyncjob_new(&aj);
	if (r < 0) {
		fprintf(stderr, "gather-greet: %s\n", strerror(-r));
		return 1;
	}
	/* argv[1]: a socket path; otherwise the default. */
	r = asyncjob_connect(aj, argc > 1 ? argv[1] : NULL);
	if (r < 0)
		goto fail;
	if ((r = asyncjob_spec_sleep(1, "Hello", &specs[0])) < 0 ||
	    (r = asyncjob_spec_sleep(1, "World", &specs[1])) < 0)
		goto fail;
	r = asyncjob_gather(aj, specs, 2, ASYNCJOB_CANCEL_ON_DISCONNECT, 0, &jobs, &ok);
	if (r < 0)
		goto fail;
	for (size_t i = 0; jobs[i]; i++)
		puts(asyncjob_job_result_string(jobs[i], "message"));
	asyncjob_jobs_free(jobs);
	asyncjob_spec_free(specs[0]);
	asyncjob_spec_free(specs[1]);
	asyncjob_free(aj);
	return ok ? 0 : 1;
fail:
	fprintf(stderr, "gather-greet: %s\n", r == -ENOMEM ? strerror(ENOMEM) : asyncjob_errmsg(aj));
	asyncjob_spec_free(specs[0]);
	asyncjob_spec_free(specs[1]);
	asyncjob_free(aj);
	return 1;
}
