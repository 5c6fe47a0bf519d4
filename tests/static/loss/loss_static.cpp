// loss/loss.hpp: the Loss concept, met by plait's losses and by a type with its members, missed by
// types without them. Compiling is the test.
#include <plait/loss/cross_entropy.hpp>
#include <plait/loss/loss.hpp>
#include <plait/loss/mse.hpp>

namespace {
using namespace plait;

static_assert(Loss<mse_loss> && Loss<cross_entropy_loss>);

struct custom {
  static constexpr const char* name = "custom";
  template <Shape Out, class Y>
  static constexpr bool accepts = std::is_same_v<Y, class_labels>;
};
struct unnamed {
  template <Shape Out, class Y>
  static constexpr bool accepts = true;
};
struct no_accepts {
  static constexpr const char* name = "no_accepts";
};
static_assert(Loss<custom> && !Loss<unnamed> && !Loss<no_accepts> && !Loss<int>);

// What the losses accept, as train_step reads it.
static_assert(cross_entropy_loss::accepts<shape<10>, class_labels> &&
              !cross_entropy_loss::accepts<shape<10>, samples<shape<10>>>);
static_assert(!cross_entropy_loss::accepts<shape<1>, class_labels>);  // one class is no classification
static_assert(mse_loss::accepts<shape<3>, samples<shape<3>>> && !mse_loss::accepts<shape<3>, samples<shape<4>>>);
}  // namespace
